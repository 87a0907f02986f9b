//go:build integration

package kube_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// A run killed after restarting the first of three Deployments, then
// resumed with the same token, twice: every Deployment ends with exactly
// one new ReplicaSet.
func TestRolloutRestartResumeAfterKill(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	names := []string{"a", "b", "c"}
	for _, n := range names {
		createDeployment(t, env, ns, n, depOpts{replicas: 2})
	}
	before := map[string]int{}
	for _, n := range names {
		before[n] = len(replicaSetsOf(t, env, waitRolledOut(t, env, ns, n)))
	}
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutRestart")
	p := &kube.RestartParams{Selection: kube.Selection{All: true, Namespace: ns}}
	tok := token()

	// The kill: the context ends as soon as the first patch is reported.
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	in := instance(t, p, tok)
	in.Progress = func(msg string) { t.Logf("progress: %s", msg); kill() }
	_, err := ex.Run(ctx, in)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed Run: err = %v, want context.Canceled", err)
	}
	restarted := 0
	for _, n := range names {
		if getDeployment(t, env, ns, n).Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == tok {
			restarted++
		}
	}
	if restarted != 1 {
		t.Fatalf("%d deployments restarted before the kill, want 1", restarted)
	}

	in = instance(t, p, tok)
	in.Attempt = 2
	if checkDone(t, ex, in) {
		t.Fatal("Check after a partial run says done")
	}
	res := runOK(t, ex, in)
	if strings.Count(res.Evidence, "already restarted at "+tok) != 1 || strings.Count(res.Evidence, ": restarted at "+tok) != 2 {
		t.Errorf("resumed Run evidence = %q, want 1 already restarted and 2 restarted", res.Evidence)
	}
	if !checkDone(t, ex, in) {
		t.Fatal("Check after the resumed Run says not done")
	}
	gens := map[string]int64{}
	for _, n := range names {
		gens[n] = getDeployment(t, env, ns, n).Generation
	}
	in.Attempt = 3
	runOK(t, ex, in)
	for _, n := range names {
		d := waitRolledOut(t, env, ns, n)
		if d.Generation != gens[n] {
			t.Errorf("deployment %s: generation %d after a repeated Run, want %d", n, d.Generation, gens[n])
		}
		if got := len(replicaSetsOf(t, env, d)); got != before[n]+1 {
			t.Errorf("deployment %s: %d ReplicaSets, want %d (exactly one new)", n, got, before[n]+1)
		}
	}
}

func TestRolloutRestartFailures(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutRestart")
	run := func(sel kube.Selection) error {
		_, err := ex.Run(testCtx(t, time.Minute), instance(t, &kube.RestartParams{Selection: sel}, token()))
		t.Logf("error: %v", err)
		return err
	}
	wantPermanent(t, run(kube.Selection{All: true, Namespace: ns}), "found no deployments in namespace "+ns, "allowEmpty: true")
	if err := run(kube.Selection{All: true, Namespace: ns, AllowEmpty: true}); err != nil {
		t.Errorf("allowEmpty: %v", err)
	}
	createDeployment(t, env, ns, "web", depOpts{})
	wantPermanent(t, run(kube.Selection{Names: []string{"web", "missing"}, Namespace: ns}), fmt.Sprintf("deployment %s/missing: not found", ns))
	wantPermanent(t, run(kube.Selection{Selector: "app in (", Namespace: ns}), "invalid label selector")

	_, err := env.Clientset.AppsV1().Deployments(ns).Patch(testCtx(t, time.Minute), "web", types.MergePatchType,
		[]byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPermanent(t, run(kube.Selection{Names: []string{"web"}, Namespace: ns}), fmt.Sprintf("deployment %s/web is paused", ns))
	var perm *steps.PermanentError
	if err := run(kube.Selection{Names: []string{"web"}, Namespace: "no-such-ns-" + ns[len(ns)-5:]}); !errors.As(err, &perm) {
		t.Errorf("missing namespace: err = %v, want permanent", err)
	}
}
