package kubetest

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// GVRs of the custom resources the upgrade playbooks read.
var (
	IstioOperatorGVR    = schema.GroupVersionResource{Group: "install.istio.io", Version: "v1alpha1", Resource: "istiooperators"}
	BareMetalClusterGVR = schema.GroupVersionResource{Group: "baremetal.cluster.gke.io", Version: "v1", Resource: "clusters"}
)

// CRD describes a namespaced, schemaless (preserve-unknown-fields) custom
// resource: the tests need the API shape, not validation.
type CRD struct {
	GVR        schema.GroupVersionResource
	Kind       string
	ShortNames []string
}

// EnsureCRD creates the CRD if it is missing and waits until its resource
// can be listed. CRDs are cluster-scoped and shared by every test of the run,
// so they are never deleted, and a concurrent creation is not an error.
func (e *Env) EnsureCRD(t testing.TB, crd CRD) {
	t.Helper()
	c := ctx(t)
	plural := crd.GVR.Resource
	name := plural + "." + crd.GVR.Group
	shortNames := make([]any, 0, len(crd.ShortNames))
	for _, s := range crd.ShortNames {
		shortNames = append(shortNames, s)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group": crd.GVR.Group,
			"scope": "Namespaced",
			"names": map[string]any{
				"plural":     plural,
				"singular":   strings.ToLower(crd.Kind),
				"kind":       crd.Kind,
				"listKind":   crd.Kind + "List",
				"shortNames": shortNames,
			},
			"versions": []any{map[string]any{
				"name":    crd.GVR.Version,
				"served":  true,
				"storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type":                                 "object",
					"x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	_, err := e.Dynamic.Resource(crdGVR).Create(c, obj, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: creating CRD %s: %v", name, err)
	}
	// Established alone is not enough: right after it the resource answers
	// 429 "Retry-After: 1" while its storage initialises, which client-go
	// would sit out in one-second sleeps, so probe without retries. (The
	// first create of a new kind still takes ~2s more, once per cluster:
	// the ResourceQuota admission plugin builds its evaluator then.)
	path := "/apis/" + crd.GVR.Group + "/" + crd.GVR.Version + "/" + plural
	var last error
	err = wait.PollUntilContextTimeout(c, 50*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
		got, err := e.Dynamic.Resource(crdGVR).Get(c, name, metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		if !crdEstablished(got) {
			return false, nil
		}
		last = e.Clientset.Discovery().RESTClient().Get().AbsPath(path).Param("limit", "1").MaxRetries(0).Do(c).Error()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("kubetest: CRD %s not established and served: %v (last error: %v)", name, err, last)
	}
}

func crdEstablished(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// EnsureIstioOperatorCRD installs istiooperators.install.istio.io.
func (e *Env) EnsureIstioOperatorCRD(t testing.TB) {
	t.Helper()
	e.EnsureCRD(t, CRD{GVR: IstioOperatorGVR, Kind: "IstioOperator", ShortNames: []string{"iop", "io"}})
}

// EnsureBareMetalCRD installs clusters.baremetal.cluster.gke.io.
func (e *Env) EnsureBareMetalCRD(t testing.TB) {
	t.Helper()
	e.EnsureCRD(t, CRD{GVR: BareMetalClusterGVR, Kind: "Cluster"})
}

// CreateInstalledState creates the IstioOperator that istioctl/asmcli leave
// behind for a revision: "installed-state-REV", or "installed-state" for
// the default revision ("" or "default"). spec defaults to
// {"revision": REV}; status is kept because the CRD has no status
// subresource. Ensures the CRD first.
func (e *Env) CreateInstalledState(t testing.TB, ns, rev string, spec map[string]any) *unstructured.Unstructured {
	t.Helper()
	e.EnsureIstioOperatorCRD(t)
	name := "installed-state"
	if !isDefaultRev(rev) {
		name += "-" + rev
	}
	if spec == nil {
		spec = map[string]any{}
		if !isDefaultRev(rev) {
			spec["revision"] = rev
		}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "install.istio.io/v1alpha1",
		"kind":       "IstioOperator",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       spec,
	}}
	return e.createUnstructured(t, IstioOperatorGVR, obj)
}

// CreateBareMetalCluster creates a baremetal.cluster.gke.io/v1 Cluster with
// spec.anthosBareMetalVersion set. Ensures the CRD first.
func (e *Env) CreateBareMetalCluster(t testing.TB, ns, name, version string) *unstructured.Unstructured {
	t.Helper()
	e.EnsureBareMetalCRD(t)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "baremetal.cluster.gke.io/v1",
		"kind":       "Cluster",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       map[string]any{"anthosBareMetalVersion": version, "type": "standalone"},
	}}
	return e.createUnstructured(t, BareMetalClusterGVR, obj)
}

func (e *Env) createUnstructured(t testing.TB, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	got, err := e.Dynamic.Resource(gvr).Namespace(obj.GetNamespace()).Create(ctx(t), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: creating %s %s/%s: %v", gvr.Resource, obj.GetNamespace(), obj.GetName(), err)
	}
	return got
}
