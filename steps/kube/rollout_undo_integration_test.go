//go:build integration

package kube_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

const (
	imageV1 = "registry.k8s.io/pause:3.9"
	imageV2 = "registry.k8s.io/pause:3.10"
	imageV3 = "registry.k8s.io/pause:3.10.1"
)

func image(t *testing.T, env *kubetest.Env, ns, name string) string {
	t.Helper()
	return getDeployment(t, env, ns, name).Spec.Template.Spec.Containers[0].Image
}

// twoRevisions makes a Deployment with revision 1 (imageV1) and revision 2
// (imageV2), both rolled out.
func twoRevisions(t *testing.T, env *kubetest.Env, ns, name string) {
	t.Helper()
	createDeployment(t, env, ns, name, depOpts{image: imageV1})
	waitRolledOut(t, env, ns, name)
	setImage(t, env, ns, name, imageV2)
}

// Undoing to "previous" twice would flip back to the template just left.
// After Run, Check says done and a repeated Run changes nothing; only a
// new instance (another token) rolls back again.
func TestRolloutUndoOnceAcrossResume(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	twoRevisions(t, env, ns, "web")
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutUndo")
	in := instance(t, &kube.UndoParams{Name: "web", Namespace: ns}, token())

	if checkDone(t, ex, in) {
		t.Fatal("Check before Run says done")
	}
	res := runOK(t, ex, in)
	if got := image(t, env, ns, "web"); got != imageV1 {
		t.Fatalf("image after undo = %s, want %s", got, imageV1)
	}
	if !strings.Contains(res.Evidence, "rolled back from revision 2 to the template of revision 1") {
		t.Errorf("evidence = %q", res.Evidence)
	}
	d := waitRolledOut(t, env, ns, "web")
	rsBefore, gen := len(replicaSetsOf(t, env, d)), d.Generation

	// The resume: the engine asks Check, and even a repeated Run must not
	// flip back to imageV2.
	in.Attempt = 2
	if !checkDone(t, ex, in) {
		t.Fatal("Check after Run says not done")
	}
	res = runOK(t, ex, in)
	if !strings.Contains(res.Evidence, "already rolled back by this step") {
		t.Errorf("repeated Run evidence = %q", res.Evidence)
	}
	d = waitRolledOut(t, env, ns, "web")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != imageV1 || d.Generation != gen {
		t.Fatalf("after a repeated Run: image %s generation %d, want %s and %d unchanged", got, d.Generation, imageV1, gen)
	}
	if got := len(replicaSetsOf(t, env, d)); got != rsBefore {
		t.Errorf("ReplicaSets %d after a repeated Run, want %d", got, rsBefore)
	}

	// Another instance is another undo: back to imageV2.
	other := instance(t, &kube.UndoParams{Name: "web", Namespace: ns}, token())
	other.StepID = "undo-again"
	runOK(t, ex, other)
	if got := image(t, env, ns, "web"); got != imageV2 {
		t.Errorf("image after a second, distinct undo = %s, want %s", got, imageV2)
	}
}

// A kill after the target ReplicaSet is marked but before the rollback;
// the resumed run rolls back to the marked target exactly once.
func TestRolloutUndoKilledBeforeRollback(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	twoRevisions(t, env, ns, "web")
	setImage(t, env, ns, "web", imageV3)
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutUndo")
	tok := token()

	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	in := instance(t, &kube.UndoParams{Name: "web", Namespace: ns}, tok)
	in.Progress = func(msg string) { t.Logf("progress: %s", msg); kill() }
	if _, err := ex.Run(ctx, in); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed Run: err = %v, want context.Canceled", err)
	}
	if got := image(t, env, ns, "web"); got != imageV3 {
		t.Fatalf("image after the kill = %s, want %s (no rollback yet)", got, imageV3)
	}

	in = instance(t, &kube.UndoParams{Name: "web", Namespace: ns}, tok)
	in.Attempt = 2
	if checkDone(t, ex, in) {
		t.Fatal("Check after the kill says done")
	}
	runOK(t, ex, in)
	if got := image(t, env, ns, "web"); got != imageV2 {
		t.Fatalf("image after the resumed Run = %s, want %s", got, imageV2)
	}
	if !checkDone(t, ex, in) {
		t.Fatal("Check after the resumed Run says not done")
	}
	in.Attempt = 3
	runOK(t, ex, in)
	if got := image(t, env, ns, "web"); got != imageV2 {
		t.Fatalf("image after a third Run = %s, want %s", got, imageV2)
	}
}

func TestRolloutUndoToRevisionAndFailures(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	twoRevisions(t, env, ns, "web")
	setImage(t, env, ns, "web", imageV3)
	createDeployment(t, env, ns, "fresh", depOpts{})
	waitRolledOut(t, env, ns, "fresh")
	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutUndo")
	step := 0
	run := func(p *kube.UndoParams) error {
		// Each call is another step, so another undo, even within a second.
		step++
		in := instance(t, p, token())
		in.StepID = fmt.Sprintf("undo-%d", step)
		_, err := ex.Run(testCtx(t, time.Minute), in)
		t.Logf("error: %v", err)
		return err
	}

	if err := run(&kube.UndoParams{Name: "web", Namespace: ns, ToRevision: 1}); err != nil {
		t.Fatal(err)
	}
	if got := image(t, env, ns, "web"); got != imageV1 {
		t.Errorf("image after toRevision 1 = %s, want %s", got, imageV1)
	}
	waitRolledOut(t, env, ns, "web") // revision 1 is renumbered 4 by then
	wantPermanent(t, run(&kube.UndoParams{Name: "web", Namespace: ns, ToRevision: 9}),
		fmt.Sprintf("deployment %s/web: no revision 9 to roll back to (revisions kept: 4, 3, 2)", ns))
	wantPermanent(t, run(&kube.UndoParams{Name: "fresh", Namespace: ns}),
		fmt.Sprintf("deployment %s/fresh: no previous revision to roll back to (current revision 1; revisions kept: 1)", ns))
	wantPermanent(t, run(&kube.UndoParams{Name: "missing", Namespace: ns}), fmt.Sprintf("deployment %s/missing: not found", ns))
}
