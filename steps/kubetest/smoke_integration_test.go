//go:build integration

package kubetest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

const rolloutTimeout = 60 * time.Second

func bg(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// Pods exist only if the real deployment and replicaset controllers made
// them, are bound only by the real scheduler, and are Ready only via kwok.
func TestDeploymentBecomesAvailable(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	env.CreateWorkload(t, ns, kubetest.Workload{Name: "web", Replicas: 3, ProxyVersion: "1.20.3-asm.1"})
	d := env.WaitDeploymentAvailable(t, ns, "web", rolloutTimeout)
	if d.Status.AvailableReplicas != 3 {
		t.Fatalf("available replicas = %d, want 3", d.Status.AvailableReplicas)
	}
	pods, err := env.Clientset.CoreV1().Pods(ns).List(bg(t), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("got %d pods, want 3", len(pods.Items))
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q phase %q, want scheduled and Running", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
		if got := p.Spec.Containers[1]; got.Name != "istio-proxy" || got.Image != kubetest.ProxyImage("1.20.3-asm.1") {
			t.Errorf("pod %s: sidecar %s %s", p.Name, got.Name, got.Image)
		}
	}
}

func TestRolloutRestartCompletes(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	env.CreateWorkload(t, ns, kubetest.Workload{Name: "api", Replicas: 2, ProxyVersion: "1.19.0-asm.2"})
	before := env.WaitDeploymentAvailable(t, ns, "api", rolloutTimeout)
	oldRS := replicaSets(t, env, ns)

	restarted := env.RolloutRestart(t, ns, "api")
	if restarted.Generation <= before.Generation {
		t.Fatalf("generation %d after restart, want > %d", restarted.Generation, before.Generation)
	}
	after := env.WaitDeploymentAvailable(t, ns, "api", rolloutTimeout)
	if after.Status.ObservedGeneration < restarted.Generation {
		t.Fatalf("observedGeneration %d < generation %d", after.Status.ObservedGeneration, restarted.Generation)
	}
	newRS := replicaSets(t, env, ns)
	if len(newRS) != len(oldRS)+1 {
		t.Fatalf("replicasets before %v, after %v: want exactly one new", oldRS, newRS)
	}
	for name, replicas := range newRS {
		if _, old := oldRS[name]; old && replicas != 0 {
			t.Errorf("old replicaset %s still has %d replicas", name, replicas)
		}
		if _, old := oldRS[name]; !old && replicas != 2 {
			t.Errorf("new replicaset %s has %d replicas, want 2", name, replicas)
		}
	}
}

func replicaSets(t *testing.T, env *kubetest.Env, ns string) map[string]int32 {
	t.Helper()
	list, err := env.Clientset.AppsV1().ReplicaSets(ns).List(bg(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for _, rs := range list.Items {
		out[rs.Name] = rs.Status.Replicas
	}
	return out
}

func TestIstioFixturesAndWebhookPatch(t *testing.T) {
	env := kubetest.New(t)
	istioNS := env.Namespace(t, nil)
	rev := kubetest.UniqueName("asm-1-20", 30)
	istiod := env.CreateIstiod(t, istioNS, rev, "1.20.3-asm.1")
	tag := env.CreateRevisionTag(t, istioNS, kubetest.UniqueName("stable", 30), rev)
	env.CreateInstalledState(t, istioNS, rev, nil)
	env.CreateIngressGateway(t, istioNS, "1.20.3-asm.1")
	env.WaitDeploymentAvailable(t, istioNS, istiod.Deployment, rolloutTimeout)
	env.WaitDeploymentAvailable(t, istioNS, "istio-ingressgateway", rolloutTimeout)

	// Pods in a namespace the injector matches must not wait for the
	// (unreachable) webhook: it has to fail open at once.
	appNS := env.Namespace(t, map[string]string{"istio.io/rev": rev})
	env.CreateWorkload(t, appNS, kubetest.Workload{Name: "injected", ProxyVersion: "1.20.3-asm.1"})
	env.WaitDeploymentAvailable(t, appNS, "injected", rolloutTimeout)

	whs := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc, err := whs.Get(bg(t), istiod.Webhook, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := mwc.Webhooks[0].ClientConfig.Service; got.Name != "istiod-"+rev || got.Namespace != istioNS {
		t.Fatalf("injector points at %s/%s", got.Namespace, got.Name)
	}
	if len(tag.Webhooks) != 2 || tag.Labels["istio.io/rev"] != rev {
		t.Fatalf("tag webhook: %d webhooks, labels %v", len(tag.Webhooks), tag.Labels)
	}

	// Re-point the tag to another revision the way `istioctl tag set` would.
	patch := `[{"op":"replace","path":"/webhooks/0/clientConfig/service/name","value":"istiod-other"},` +
		`{"op":"replace","path":"/metadata/labels/istio.io~1rev","value":"other"}]`
	if _, err := whs.Patch(bg(t), tag.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := whs.Get(bg(t), tag.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Webhooks[0].ClientConfig.Service.Name != "istiod-other" || got.Labels["istio.io/rev"] != "other" {
		t.Fatalf("patch not applied: service %s labels %v", got.Webhooks[0].ClientConfig.Service.Name, got.Labels)
	}

	bm := env.CreateBareMetalCluster(t, istioNS, "edge", "1.30.100-gke.96")
	if v, _, _ := unstructured.NestedString(bm.Object, "spec", "anthosBareMetalVersion"); v != "1.30.100-gke.96" {
		t.Fatalf("bare-metal cluster version %q", v)
	}
}

func TestCreateAndDeleteByName(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	c := bg(t)
	cs := env.Clientset
	labels := map[string]string{"app": "byname"}
	minAvail := intstr.FromInt32(1)
	replicas := int32(1)

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "byname"}, Spec: corev1.ServiceSpec{
		Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "byname"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}}}}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "byname"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 3,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "byname"}}}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "byname"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: labels}}}

	// Create everything first so the objects coexist, as in a real install.
	deletes := []func(){
		createByName(t, c, "Service", cs.CoreV1().Services(ns), svc),
		createByName(t, c, "Deployment", cs.AppsV1().Deployments(ns), dep),
		createByName(t, c, "HorizontalPodAutoscaler", cs.AutoscalingV2().HorizontalPodAutoscalers(ns), hpa),
		createByName(t, c, "PodDisruptionBudget", cs.PolicyV1().PodDisruptionBudgets(ns), pdb),
	}
	for _, del := range deletes {
		del()
	}
}

// namedAPI is the part of every typed client that createByName uses.
type namedAPI[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
}

// createByName creates obj, checks it can be read back by name, and returns
// a function that deletes it by name and checks that it is gone.
func createByName[T metav1.Object](t *testing.T, c context.Context, kind string, api namedAPI[T], obj T) func() {
	t.Helper()
	name := obj.GetName()
	if _, err := api.Create(c, obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s %s: %v", kind, name, err)
	}
	if _, err := api.Get(c, name, metav1.GetOptions{}); err != nil {
		t.Fatalf("get %s %s after create: %v", kind, name, err)
	}
	return func() {
		t.Helper()
		if err := api.Delete(c, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete %s %s: %v", kind, name, err)
		}
		// Deletion is immediate for these kinds: no finalizers are set and
		// dependents are collected in the background.
		if _, err := api.Get(c, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get %s %s after delete: err = %v, want NotFound", kind, name, err)
		}
	}
}

func TestAPIServerRestart(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	cms := env.Clientset.CoreV1().ConfigMaps(ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survives"}, Data: map[string]string{"k": "v"}}
	if _, err := cms.Create(bg(t), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	env.StopAPIServer(t)
	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := cms.Get(short, "survives", metav1.GetOptions{})
	cancel()
	if err == nil {
		t.Fatal("Get succeeded while kube-apiserver was stopped")
	}
	t.Logf("while stopped: %v", err)

	env.StartAPIServer(t)
	got, err := cms.Get(bg(t), "survives", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Fatalf("data after restart = %v", got.Data)
	}
	// Controllers reconnect too: a new Deployment still rolls out.
	env.CreateWorkload(t, ns, kubetest.Workload{Name: "after-restart", ProxyVersion: "1.20.3-asm.1"})
	env.WaitDeploymentAvailable(t, ns, "after-restart", rolloutTimeout)

	env.RestartAPIServer(t, 500*time.Millisecond)
	if _, err := cms.Get(bg(t), "survives", metav1.GetOptions{}); err != nil {
		t.Fatalf("Get after RestartAPIServer: %v", err)
	}
}

func TestProxyCutsOnlyItsOwnClients(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	p := env.Proxy(t)
	get := func(cs kubernetes.Interface, timeout time.Duration) error {
		c, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := cs.CoreV1().Namespaces().Get(c, ns, metav1.GetOptions{})
		return err
	}
	if err := get(p.Clientset, 5*time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	p.Cut()
	if err := get(p.Clientset, 2*time.Second); err == nil {
		t.Fatal("Get through a cut proxy succeeded")
	}
	if err := get(env.Clientset, 5*time.Second); err != nil {
		t.Fatalf("direct client broken by the proxy cut: %v", err)
	}
	p.Restore()
	if err := get(p.Clientset, 10*time.Second); err != nil {
		t.Fatalf("after Restore: %v", err)
	}

	p.Blackhole()
	// A blackhole swallows the request: the Get can only end by its
	// deadline, unlike a cut, which refuses the connection at once.
	// client-go may retry a connection the blackhole broke (unexpected EOF)
	// and then stop before its next try would pass the deadline: that too
	// is the deadline, reported by its rate limiter.
	if err := get(p.Clientset, time.Second); !errors.Is(err, context.DeadlineExceeded) &&
		(err == nil || !strings.Contains(err.Error(), "would exceed context deadline")) {
		t.Fatalf("Get through a blackholed proxy: %v, want the context deadline", err)
	}
	p.Restore()
	if err := get(p.Clientset, 10*time.Second); err != nil {
		t.Fatalf("after Restore from blackhole: %v", err)
	}
}
