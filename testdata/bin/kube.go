package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kube is a connection to the cluster a tool acts on.
type kube struct {
	cfg     *rest.Config
	cs      kubernetes.Interface
	dyn     dynamic.Interface
	raw     clientcmdapi.Config // the merged kubeconfig
	context string              // the context in use
	ctx     context.Context     // bounds every call of a short-lived tool
	cancel  context.CancelFunc
}

// newKube loads kubeconfig (empty: $KUBECONFIG or ~/.kube/config) and uses
// context (empty: current-context), as kubectl and the real tools do.
func newKube(kubeconfig, kubeContext string) (*kube, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, err
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Timeout = 20 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	name := kubeContext
	if name == "" {
		name = raw.CurrentContext
	}
	// Tools are short-lived; one generous deadline bounds every call.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	return &kube{cfg: cfg, cs: cs, dyn: dyn, raw: raw, context: name, ctx: ctx, cancel: cancel}, nil
}

// reachable checks the apiserver answers, the way the tools' first call would.
func (k *kube) reachable() error {
	c, cancel := context.WithTimeout(k.ctx, 10*time.Second)
	defer cancel()
	return k.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(c).Error()
}

func (k *kube) ensureNamespace(name string) error {
	_, err := k.cs.CoreV1().Namespaces().Get(k.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = k.cs.CoreV1().Namespaces().Create(k.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	return err
}

// applyDeployment creates d or replaces the existing one's labels and spec.
func (k *kube) applyDeployment(d *appsv1.Deployment) error {
	api := k.cs.AppsV1().Deployments(d.Namespace)
	cur, err := api.Get(k.ctx, d.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(k.ctx, d, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	// spec.selector is immutable: keep the existing one (e.g. a test
	// fixture's) and make sure the new pod template still matches it.
	sel := cur.Spec.Selector
	cur.Labels, cur.Annotations, cur.Spec = d.Labels, mergeMaps(cur.Annotations, d.Annotations), d.Spec
	if sel != nil {
		cur.Spec.Selector = sel
		cur.Spec.Template.Labels = mergeMaps(cur.Spec.Template.Labels, sel.MatchLabels)
	}
	_, err = api.Update(k.ctx, cur, metav1.UpdateOptions{})
	return err
}

func (k *kube) applyService(s *corev1.Service) error {
	api := k.cs.CoreV1().Services(s.Namespace)
	cur, err := api.Get(k.ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(k.ctx, s, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cur.Labels, cur.Spec.Selector, cur.Spec.Ports = s.Labels, s.Spec.Selector, s.Spec.Ports
	_, err = api.Update(k.ctx, cur, metav1.UpdateOptions{})
	return err
}

func (k *kube) applyMWC(m *admv1.MutatingWebhookConfiguration) error {
	api := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cur, err := api.Get(k.ctx, m.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(k.ctx, m, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cur.Labels, cur.Annotations, cur.Webhooks = m.Labels, m.Annotations, m.Webhooks
	_, err = api.Update(k.ctx, cur, metav1.UpdateOptions{})
	return err
}

func (k *kube) applyVWC(v *admv1.ValidatingWebhookConfiguration) error {
	api := k.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	cur, err := api.Get(k.ctx, v.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(k.ctx, v, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cur.Labels, cur.Webhooks = v.Labels, v.Webhooks
	_, err = api.Update(k.ctx, cur, metav1.UpdateOptions{})
	return err
}

func (k *kube) applyConfigMap(c *corev1.ConfigMap) error {
	api := k.cs.CoreV1().ConfigMaps(c.Namespace)
	cur, err := api.Get(k.ctx, c.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(k.ctx, c, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cur.Labels, cur.Data = c.Labels, c.Data
	_, err = api.Update(k.ctx, cur, metav1.UpdateOptions{})
	return err
}

// applyUnstructured creates obj or replaces the existing object's labels and spec.
func (k *kube) applyUnstructured(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	api := k.dyn.Resource(gvr).Namespace(obj.GetNamespace())
	cur, err := api.Get(k.ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(k.ctx, obj, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cur.SetLabels(obj.GetLabels())
	cur.SetAnnotations(mergeMaps(cur.GetAnnotations(), obj.GetAnnotations()))
	cur.Object["spec"] = obj.Object["spec"]
	_, err = api.Update(k.ctx, cur, metav1.UpdateOptions{})
	return err
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdSpec is a schemaless custom resource type.
type crdSpec struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	shortNames []string
	status     bool     // status subresource
	columns    []string // printer columns "NAME=.json.path"
}

// ensureCRD creates the CRD unless it exists (a fixture or another tool may
// have made it; it is never modified) and waits until it is served.
func (k *kube) ensureCRD(c crdSpec) error {
	name := c.gvr.Resource + "." + c.gvr.Group
	scope := "Cluster"
	if c.namespaced {
		scope = "Namespaced"
	}
	version := map[string]any{
		"name": c.gvr.Version, "served": true, "storage": true,
		"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
	}
	if c.status {
		version["subresources"] = map[string]any{"status": map[string]any{}}
	}
	var cols []any
	for _, col := range c.columns {
		n, p, _ := strings.Cut(col, "=")
		cols = append(cols, map[string]any{"name": n, "type": "string", "jsonPath": p})
	}
	if cols != nil {
		version["additionalPrinterColumns"] = cols
	}
	short := []any{}
	for _, s := range c.shortNames {
		short = append(short, s)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"group": c.gvr.Group, "scope": scope, "versions": []any{version},
			"names": map[string]any{
				"plural": c.gvr.Resource, "singular": strings.ToLower(c.kind), "kind": c.kind,
				"listKind": c.kind + "List", "shortNames": short,
			},
		},
	}}
	if _, err := k.dyn.Resource(crdGVR).Create(k.ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CustomResourceDefinition %s: %w", name, err)
	}
	path := "/apis/" + c.gvr.Group + "/" + c.gvr.Version + "/" + c.gvr.Resource
	var last error
	err := wait.PollUntilContextTimeout(k.ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = k.cs.Discovery().RESTClient().Get().AbsPath(path).Param("limit", "1").MaxRetries(0).Do(ctx).Error()
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("CustomResourceDefinition %s not served: %v (last error: %v)", name, err, last)
	}
	return nil
}

// waitDeployments waits until every named Deployment in ns has rolled out.
func (k *kube) waitDeployments(ns string, names []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range names {
		err := wait.PollUntilContextTimeout(k.ctx, 100*time.Millisecond, time.Until(deadline), true, func(ctx context.Context) (bool, error) {
			d, err := k.cs.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			s := d.Status
			return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, nil
		})
		if err != nil {
			return fmt.Errorf("resources not ready after %v: Deployment/%s/%s: %v", timeout, ns, n, err)
		}
	}
	return nil
}

func mergeMaps(a, b map[string]string) map[string]string {
	if a == nil && b == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func ptr[T any](v T) *T { return &v }
