//go:build integration

package kube_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

const rolloutTimeout = 60 * time.Second

// clusterFor builds the clients the way the CLI does (cluster.Load), so the
// kinds run with production settings; tweak may change the config.
func clusterFor(t *testing.T, env *kubetest.Env, tweak func(*rest.Config)) *cluster.Clients {
	t.Helper()
	conn, err := cluster.Load(cluster.Source{Kubeconfig: env.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(conn.Config)
	}
	cl, err := conn.Clients()
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// executor builds one of the kinds under test through kube.Kinds.
func executor(t *testing.T, cl *cluster.Clients, name string) steps.Executor {
	t.Helper()
	for _, k := range kube.Kinds(func() (*cluster.Clients, error) { return cl, nil }) {
		if k.Name == name {
			ex, err := k.New()
			if err != nil {
				t.Fatalf("%s: New: %v", name, err)
			}
			return ex
		}
	}
	t.Fatalf("kube.Kinds has no %s", name)
	return nil
}

// newParams returns the params a playbook would give kind name, e.g. a
// LabelParams that knows whether it is for labels or annotations.
func newParams[T any](t *testing.T, name string) *T {
	t.Helper()
	for _, k := range kube.Kinds(nil) {
		if k.Name == name {
			p, ok := k.NewParams().(*T)
			if !ok {
				t.Fatalf("%s: NewParams is %T", name, k.NewParams())
			}
			return p
		}
	}
	t.Fatalf("kube.Kinds has no %s", name)
	return nil
}

// token is what the engine would choose before the first attempt.
func token() string { return time.Now().UTC().Format(time.RFC3339) }

func instance(t *testing.T, params any, tok string) steps.Instance {
	return steps.Instance{RunID: "run-" + t.Name(), StepID: "s", Attempt: 1, Token: tok, Params: params,
		Progress: func(msg string) { t.Logf("progress: %s", msg) }}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func runOK(t *testing.T, ex steps.Executor, in steps.Instance) steps.Result {
	t.Helper()
	res, err := ex.Run(testCtx(t, 2*time.Minute), in)
	if err != nil {
		t.Fatalf("Run: %v\nevidence: %s", err, res.Evidence)
	}
	t.Logf("evidence:\n%s", res.Evidence)
	return res
}

func checkDone(t *testing.T, ex steps.Executor, in steps.Instance) bool {
	t.Helper()
	in.Attempt = 0
	done, err := ex.(steps.Checker).Check(testCtx(t, time.Minute), in)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return done
}

// wantPermanent asserts err is Permanent and mentions every part of want.
func wantPermanent(t *testing.T, err error, want ...string) {
	t.Helper()
	var perm *steps.PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %q\nwant it to contain %q", err, w)
		}
	}
}

type depOpts struct {
	replicas         int32
	image            string
	minReadySeconds  int32
	progressDeadline int32
	unschedulable    bool // a nodeSelector no node matches: never available
	labels           map[string]string
}

func createDeployment(t *testing.T, env *kubetest.Env, ns, name string, o depOpts) *appsv1.Deployment {
	t.Helper()
	if o.replicas == 0 {
		o.replicas = 1
	}
	if o.image == "" {
		o.image = "registry.k8s.io/pause:3.10"
	}
	labels := map[string]string{"app": name}
	for k, v := range o.labels {
		labels[k] = v
	}
	zero := int64(0)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas:        &o.replicas,
			MinReadySeconds: o.minReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "app", Image: o.image}},
					TerminationGracePeriodSeconds: &zero,
				},
			},
		},
	}
	if o.progressDeadline > 0 {
		d.Spec.ProgressDeadlineSeconds = &o.progressDeadline
	}
	if o.unschedulable {
		d.Spec.Template.Spec.NodeSelector = map[string]string{"cairn.dev/no-such-node": "true"}
	}
	got, err := env.Clientset.AppsV1().Deployments(ns).Create(testCtx(t, time.Minute), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating deployment %s/%s: %v", ns, name, err)
	}
	return got
}

func getDeployment(t *testing.T, env *kubetest.Env, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := env.Clientset.AppsV1().Deployments(ns).Get(testCtx(t, time.Minute), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// replicaSetsOf lists the ReplicaSets a Deployment controls.
func replicaSetsOf(t *testing.T, env *kubetest.Env, d *appsv1.Deployment) []appsv1.ReplicaSet {
	t.Helper()
	list, err := env.Clientset.AppsV1().ReplicaSets(d.Namespace).List(testCtx(t, time.Minute),
		metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
	if err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			out = append(out, rs)
		}
	}
	return out
}

// setImage changes the template and waits for the new revision to roll out.
func setImage(t *testing.T, env *kubetest.Env, ns, name, image string) *appsv1.Deployment {
	t.Helper()
	d := getDeployment(t, env, ns, name)
	d.Spec.Template.Spec.Containers[0].Image = image
	if _, err := env.Clientset.AppsV1().Deployments(ns).Update(testCtx(t, time.Minute), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return waitRolledOut(t, env, ns, name)
}

func waitRolledOut(t *testing.T, env *kubetest.Env, ns, name string) *appsv1.Deployment {
	t.Helper()
	return env.WaitDeploymentAvailable(t, ns, name, rolloutTimeout)
}

// counting makes the clients count the API requests whose path contains
// match.
func counting(match string, count *atomicCount) func(*rest.Config) {
	return func(c *rest.Config) {
		c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return countingTransport{next: rt, match: match, count: count}
		}
	}
}

// countingTransport counts the API requests whose path contains match.
type countingTransport struct {
	next  http.RoundTripper
	match string
	count *atomicCount
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, c.match) {
		c.count.add(r.Method + " " + r.URL.RequestURI())
	}
	return c.next.RoundTrip(r)
}

type atomicCount struct {
	mu   sync.Mutex
	reqs []string
}

func (c *atomicCount) add(req string) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.mu.Unlock()
}

func (c *atomicCount) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.reqs...)
}
