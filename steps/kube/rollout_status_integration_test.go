//go:build integration

package kube_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

func statusParams(ns string, names ...string) *kube.RolloutStatusParams {
	return &kube.RolloutStatusParams{Selection: kube.Selection{Names: names, Namespace: ns}}
}

// slowRestart restarts a Deployment whose new pods become available only
// minReady seconds after they are ready, so that its rollout lasts at
// least that long.
func slowRestart(t *testing.T, env *kubetest.Env, ns, name string, minReady int) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"minReadySeconds":%d,"template":{"metadata":{"annotations":{"test/restart":%q}}}}}`,
		minReady, time.Now().Format(time.RFC3339Nano))
	if _, err := env.Clientset.AppsV1().Deployments(ns).Patch(testCtx(t, time.Minute), name, types.MergePatchType,
		[]byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Five Deployments rolling out for several seconds are waited for with a
// constant number of requests: one list and one watch for the namespace.
func TestRolloutStatusRequestsAreConstant(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	for i := range 5 {
		createDeployment(t, env, ns, fmt.Sprintf("d%d", i), depOpts{replicas: 2})
	}
	for i := range 5 {
		waitRolledOut(t, env, ns, fmt.Sprintf("d%d", i))
	}
	count := &atomicCount{}
	cl := clusterFor(t, env, counting("/deployments", count))
	ex := executor(t, cl, "kube.rolloutStatus")
	for i := range 5 {
		slowRestart(t, env, ns, fmt.Sprintf("d%d", i), 2)
	}

	var mu sync.Mutex
	var reports []string
	in := instance(t, &kube.RolloutStatusParams{Selection: kube.Selection{All: true, Namespace: ns}}, token())
	in.Progress = func(msg string) { mu.Lock(); reports = append(reports, msg); mu.Unlock() }
	res := runOK(t, ex, in)
	reqs := count.snapshot()
	t.Logf("waited with %d requests:\n%s", len(reqs), strings.Join(reqs, "\n"))
	t.Logf("%d progress reports, e.g. %q", len(reports), reports[:min(3, len(reports))])

	if len(reqs) > 10 {
		t.Errorf("%d API requests for one wait, want at most 10 (a list and a watch)", len(reqs))
	}
	for i := range 5 {
		if d := getDeployment(t, env, ns, fmt.Sprintf("d%d", i)); !kubetest.RolloutComplete(d) {
			t.Errorf("Run returned while deployment d%d is not rolled out: %+v", i, d.Status)
		}
	}
	if len(reports) < 2 || reports[len(reports)-1] != "5/5 deployments rolled out" || !strings.Contains(reports[0], "/5 deployments rolled out; deploy/") {
		t.Errorf("progress reports = %q", reports)
	}
	if strings.Count(res.Evidence, ": rolled out (generation 2, 2 updated replicas)") != 5 {
		t.Errorf("evidence = %q", res.Evidence)
	}
	if !checkDone(t, ex, in) {
		t.Error("Check after the wait says not done")
	}
}

// The API server goes away for 5s in the middle of a wait; the watch is
// re-established and the wait ends successfully once the rollout does.
func TestRolloutStatusSurvivesAPIServerRestart(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "web", depOpts{})
	waitRolledOut(t, env, ns, "web")
	count := &atomicCount{}
	ex := executor(t, clusterFor(t, env, counting("/deployments", count)), "kube.rolloutStatus")
	slowRestart(t, env, ns, "web", 12)

	waiting := make(chan struct{})
	var once sync.Once
	in := instance(t, statusParams(ns, "web"), token())
	in.Progress = func(msg string) { t.Logf("progress: %s", msg); once.Do(func() { close(waiting) }) }
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := ex.Run(testCtx(t, 3*time.Minute), in)
		done <- result{err, time.Now()}
	}()
	select {
	case <-waiting:
	case r := <-done:
		t.Fatalf("Run returned before the outage: %v", r.err)
	}
	env.StopAPIServer(t)
	down := time.Now()
	select {
	case r := <-done:
		t.Fatalf("Run returned while the API server was down: %v", r.err)
	case <-time.After(5 * time.Second):
	}
	env.StartAPIServer(t)
	t.Logf("kube-apiserver is back")
	r := <-done
	if r.err != nil {
		t.Fatalf("Run failed across the API server restart: %v", r.err)
	}
	if !r.at.After(down) {
		t.Fatalf("Run returned at %v, before the API server went down at %v: the outage was not waited through", r.at, down)
	}
	if d := getDeployment(t, env, ns, "web"); !kubetest.RolloutComplete(d) {
		t.Errorf("Run succeeded but the deployment is not rolled out: %+v", d.Status)
	}
	t.Logf("requests (list/watch re-established after the outage):\n%s", strings.Join(count.snapshot(), "\n"))
}

func TestRolloutStatusProgressDeadlineExceeded(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "stuck", depOpts{unschedulable: true, progressDeadline: 1})
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutStatus")
	_, err := ex.Run(testCtx(t, time.Minute), instance(t, statusParams(ns, "stuck"), token()))
	t.Logf("error: %v", err)
	// Which count kubectl's status viewer reports depends on how far the
	// controller got before the deadline; the verdict does not.
	wantPermanent(t, err, fmt.Sprintf("deployment %s/stuck: rollout not complete: ", ns),
		"(ProgressDeadlineExceeded: ReplicaSet \"stuck-", "has timed out progressing")
}

func TestRolloutStatusTimeoutAndMissing(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "stuck", depOpts{unschedulable: true})
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutStatus")

	p := statusParams(ns, "stuck")
	p.Timeout = 2 * time.Second
	_, err := ex.Run(testCtx(t, time.Minute), instance(t, p, token()))
	t.Logf("error: %v", err)
	var perm *steps.PermanentError
	if err == nil || errors.As(err, &perm) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), fmt.Sprintf("deployment %s/stuck: rollout not complete after 2s: 0 of 1 updated replicas are available", ns)) {
		t.Errorf("timeout: err = %v, want a retryable timeout naming the deployment and its status", err)
	}
	if checkDone(t, ex, instance(t, p, token())) {
		t.Error("Check says a stuck rollout is done")
	}

	_, err = ex.Run(testCtx(t, time.Minute), instance(t, statusParams(ns, "stuck", "missing"), token()))
	wantPermanent(t, err, fmt.Sprintf("deployment %s/missing: not found", ns))

	_, err = ex.Run(testCtx(t, time.Minute), instance(t, &kube.RolloutStatusParams{
		Selection: kube.Selection{Selector: "app=none", Namespace: ns}}, token()))
	wantPermanent(t, err, fmt.Sprintf("found no deployments in namespace %s matching app=none", ns))
}

func TestRolloutStatusDeletedWhileWaiting(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "doomed", depOpts{unschedulable: true})
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutStatus")
	in := instance(t, statusParams(ns, "doomed"), token())
	var once sync.Once
	in.Progress = func(string) {
		once.Do(func() {
			go func() {
				err := env.Clientset.AppsV1().Deployments(ns).Delete(context.Background(), "doomed", metav1.DeleteOptions{})
				if err != nil {
					t.Errorf("delete: %v", err)
				}
			}()
		})
	}
	_, err := ex.Run(testCtx(t, time.Minute), in)
	wantPermanent(t, err, fmt.Sprintf("deployment %s/doomed was deleted while waiting for its rollout", ns))
}

// Without permission to list, the informer would retry forever; the wait
// fails at once instead, and permanently.
func TestRolloutStatusForbidden(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "web", depOpts{})
	ex := executor(t, clusterFor(t, env, func(c *rest.Config) {
		c.Impersonate = rest.ImpersonationConfig{UserName: "cairn-test-nobody"}
	}), "kube.rolloutStatus")
	// Retrying forever would end with the context's deadline instead.
	_, err := ex.Run(testCtx(t, time.Minute), instance(t, statusParams(ns, "web"), token()))
	wantPermanent(t, err, fmt.Sprintf("listing deployments web in namespace %s: ", ns), "forbidden")
}
