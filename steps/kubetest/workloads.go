package kubetest

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// ProxyImage is the ASM sidecar image for a version, e.g. "1.20.3-asm.1".
func ProxyImage(version string) string { return "gcr.io/gke-release/asm/proxyv2:" + version }

// Workload describes an injected application Deployment.
type Workload struct {
	Name     string
	Replicas int32             // default 1
	Labels   map[string]string // pod and selector labels; default app=NAME
	// ProxyImage is the istio-proxy container's image; default
	// ProxyImage(ProxyVersion).
	ProxyImage   string
	ProxyVersion string
	AppImage     string // default registry.k8s.io/pause:3.10
	// PodAnnotations go on the pod template (e.g. istio.io/rev).
	PodAnnotations map[string]string
}

// CreateWorkload creates a Deployment whose pods carry an app container and
// an "istio-proxy" sidecar, as if injected. It does not wait; see
// WaitDeploymentAvailable.
func (e *Env) CreateWorkload(t testing.TB, ns string, w Workload) *appsv1.Deployment {
	t.Helper()
	if w.Replicas == 0 {
		w.Replicas = 1
	}
	if w.Labels == nil {
		w.Labels = map[string]string{"app": w.Name}
	}
	if w.ProxyImage == "" {
		if w.ProxyVersion == "" {
			t.Fatalf("kubetest: CreateWorkload %s: set ProxyImage or ProxyVersion", w.Name)
		}
		w.ProxyImage = ProxyImage(w.ProxyVersion)
	}
	if w.AppImage == "" {
		w.AppImage = "registry.k8s.io/pause:3.10"
	}
	dep := deployment(ns, w.Name, w.Labels, w.Replicas, []corev1.Container{
		{Name: "app", Image: w.AppImage},
		{Name: "istio-proxy", Image: w.ProxyImage, Args: []string{"proxy", "sidecar"}},
	})
	dep.Spec.Template.Annotations = maps.Clone(w.PodAnnotations)
	return e.createDeployment(t, dep)
}

// CreateIngressGateway creates the istio-ingressgateway Deployment, whose
// only container is istio-proxy, as in the ASM gateway installs.
func (e *Env) CreateIngressGateway(t testing.TB, ns, proxyVersion string) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}
	dep := deployment(ns, "istio-ingressgateway", labels, 1, []corev1.Container{{
		Name: "istio-proxy", Image: ProxyImage(proxyVersion), Args: []string{"proxy", "router"},
		Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 8443}, {ContainerPort: 15021}},
	}})
	return e.createDeployment(t, dep)
}

func (e *Env) createDeployment(t testing.TB, dep *appsv1.Deployment) *appsv1.Deployment {
	t.Helper()
	got, err := e.Clientset.AppsV1().Deployments(dep.Namespace).Create(ctx(t), dep, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: creating Deployment %s/%s: %v", dep.Namespace, dep.Name, err)
	}
	return got
}

func deployment(ns, name string, labels map[string]string, replicas int32, containers []corev1.Container) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(labels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(labels)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec: corev1.PodSpec{
					Containers: containers,
					// kwok never runs anything; a zero grace period makes
					// replaced pods disappear as soon as they are deleted.
					TerminationGracePeriodSeconds: ptrTo[int64](0),
				},
			},
		},
	}
}

// RolloutComplete reports whether the Deployment controller has finished
// rolling out the current spec, with the same test as `kubectl rollout
// status`: the newest generation is observed and every replica is updated
// and available.
func RolloutComplete(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation &&
		s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
}

// WaitDeploymentAvailable watches the Deployment until RolloutComplete holds
// and returns its final state; it fails the test after timeout.
func (e *Env) WaitDeploymentAvailable(t testing.TB, ns, name string, timeout time.Duration) *appsv1.Deployment {
	t.Helper()
	d, err := e.WaitDeployment(ns, name, timeout, RolloutComplete)
	if err != nil {
		t.Fatalf("kubetest: Deployment %s/%s: %v", ns, name, err)
	}
	return d
}

// WaitDeployment watches one Deployment (list+watch, so no update is missed
// between polls) until cond holds or timeout passes. On timeout the error
// includes the last status seen.
func (e *Env) WaitDeployment(ns, name string, timeout time.Duration, cond func(*appsv1.Deployment) bool) (*appsv1.Deployment, error) {
	c, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	api := e.Clientset.AppsV1().Deployments(ns)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(c context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return api.List(c, o)
		},
		WatchFuncWithContext: func(c context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return api.Watch(c, o)
		},
	}
	var last *appsv1.Deployment
	ev, err := watchtools.UntilWithSync(c, lw, &appsv1.Deployment{}, nil, func(ev watch.Event) (bool, error) {
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok || ev.Type == watch.Deleted {
			return false, nil
		}
		last = d
		return cond(d), nil
	})
	if err != nil {
		if last == nil {
			return nil, fmt.Errorf("waiting %v: %w (never seen)", timeout, err)
		}
		return last, fmt.Errorf("waiting %v: %w; last seen generation %d, status %+v", timeout, err, last.Generation, last.Status)
	}
	return ev.Object.(*appsv1.Deployment), nil
}

// RolloutRestart does what `kubectl rollout restart` does: it stamps the
// pod template so the Deployment controller replaces every pod.
func (e *Env) RolloutRestart(t testing.TB, ns, name string) *appsv1.Deployment {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		time.Now().Format(time.RFC3339Nano))
	d, err := e.Clientset.AppsV1().Deployments(ns).Patch(ctx(t), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("kubetest: restarting Deployment %s/%s: %v", ns, name, err)
	}
	return d
}

func ptrTo[T any](v T) *T { return &v }
