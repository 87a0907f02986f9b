//go:build integration

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/cluster"
)

// mirrorObjects counts a run's configmaps in the lock namespace.
func (k *kubeRun) mirrorObjects(run string) int {
	k.t.Helper()
	cms, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).List(context.Background(), metav1.ListOptions{LabelSelector: cluster.MirrorRunLabel + "=" + run})
	if err != nil {
		k.t.Fatal(err)
	}
	return len(cms.Items)
}

// runs prune --cluster removes a finished run from the journal and from
// the cluster; a run waiting at a gate stays in both; --dry-run removes
// nothing.
func TestMirrorPruneRemovesFinishedRunsFromTheCluster(t *testing.T) {
	k, done := gatedRun(t)
	want(t, k.cairn("approve", done, "canary-ok", "--lock-namespace", k.ns), ExitOK)
	want(t, k.cairn("resume", done), ExitOK, "succeeded")
	r := k.cairn("run", k.playbook("gate", mirrorGateBook), "-p", "ns="+k.ns)
	want(t, r, ExitOK, "waiting for approval")
	waiting := runIDOf(t, r)
	if k.mirrorObjects(done) == 0 || k.mirrorObjects(waiting) == 0 {
		t.Fatal("the runs are not mirrored")
	}
	time.Sleep(20 * time.Millisecond)

	r = k.cairn("runs", "prune", "--older-than", "10ms", "--cluster", "--dry-run", "--lock-namespace", k.ns)
	want(t, r, ExitOK, "would remove "+done+" (mirror-gate succeeded", "from the journal", "from the cluster's journal mirror")
	if strings.Contains(r.stdout, waiting) || k.mirrorObjects(done) == 0 {
		t.Fatalf("dry run:\n%s", r.stdout)
	}
	r = k.cairn("runs", "prune", "--older-than", "10ms", "--cluster", "--lock-namespace", k.ns)
	want(t, r, ExitOK, "removed "+done+" (mirror-gate succeeded", "from the journal", "from the cluster's journal mirror")
	if strings.Contains(r.stdout, waiting) {
		t.Fatalf("the waiting run was removed:\n%s", r.stdout)
	}
	if n := k.mirrorObjects(done); n != 0 {
		t.Fatalf("%d configmaps of the pruned run left in the cluster", n)
	}
	if k.mirrorObjects(waiting) == 0 {
		t.Fatal("the waiting run's mirror was removed")
	}
	want(t, k.cairn("runs", "--cluster", "-q", "--lock-namespace", k.ns), ExitOK, waiting)
	if ids := k.cairn("runs", "-q").stdout; strings.TrimSpace(ids) != waiting {
		t.Fatalf("journal runs after prune: %q, want only %s", ids, waiting)
	}
	// The waiting run goes on from the mirror as before.
	want(t, k.cairn("approve", waiting, "canary-ok", "--lock-namespace", k.ns), ExitOK, "cluster's journal mirror")
}
