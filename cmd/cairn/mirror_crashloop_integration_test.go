//go:build integration

package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// crashLoopBook is mirrorCrashBook with six slower exec items between the
// restarts and the last step, so that random kills land inside steps.
const crashLoopBook = mirrorCrashBook + `  - id: tool
    foreach: [a, b, c, d, e, f]
    exec: {argv: [/bin/sh, -c, 'sleep 0.1; echo "$2" >> "$1"', sh, "${params.effects}", "${item}"]}
    check:
      exec: {argv: [grep, -qx, "${item}", "${params.effects}"]}
`

// TestMirrorCrashLoopAtRandomTimes kills a mirrored run with SIGKILL at
// seeded random times, not only at write boundaries, and resumes it each
// time either from the same journal or, with --from-cluster, into a fresh
// journal on "another machine", until it finishes. Exactly once holds:
// each Deployment restarted once, each exec's effect once, no instance
// started again after its success, and the mirror is the history of the
// journal that finished the run, which verifies.
func TestMirrorCrashLoopAtRandomTimes(t *testing.T) {
	rng := rand.New(rand.NewPCG(crashSeed(t), 17))
	k := newKubeRun(t)
	for _, n := range mirrorDeployments {
		k.env.CreateWorkload(t, k.ns, kubetest.Workload{Name: n, ProxyVersion: "1.20.3-asm.1"})
	}
	effects := filepath.Join(k.dir, "effects.log")
	pb := k.playbook("crashloop", crashLoopBook)
	j, run := k.journal, ""
	kills, moves := 0, 0
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("no success after %d kills and %d resumes on a fresh journal", kills, moves)
		}
		args := []string{"run", pb, "-p", "ns=" + k.ns, "-p", "effects=" + effects, "--lock-namespace", k.ns}
		if run == "" {
			run = k.lastRun(j)
		}
		if run == "" && i > 0 {
			// Killed after taking the lease, before journaling the run: its
			// lease holds another run id, and is taken over once stale.
			k.ageLeaseIfAny()
		}
		if run != "" {
			args = []string{"resume", run, "--lock-namespace", k.ns}
			// A fresh journal the import never reached imports again.
			fromCluster := k.lastRun(j) != run
			if !fromCluster && moves*2 < kills && k.hasMirrorHead(run) {
				j, fromCluster = filepath.Join(t.TempDir(), "moved.db"), true
				moves++
			}
			if fromCluster {
				args = append(args, "--from-cluster")
				k.ageLeaseIfAny() // the machine that held it is gone
			}
		}
		cmd := k.command(j, args...)
		after := time.Duration(20+rng.IntN(600)) * time.Millisecond
		if i >= 12 && kills >= 3 && moves >= 1 {
			after = time.Hour // enough kills: let it finish
		}
		killed, stderr, err := runOrKill(t, cmd, after)
		if killed {
			kills++
			continue
		}
		nothingLeft := cmd.ProcessState.ExitCode() == ExitRefused && strings.Contains(stderr, "nothing is left to resume")
		if err != nil && !nothingLeft {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		break
	}
	t.Logf("%d kills, %d resumes on a fresh journal", kills, moves)
	if moves == 0 {
		t.Fatal("no kill found the run in the cluster: a started event was not mirrored before its step acted, or the run is too short for the kill times")
	}
	if run == "" {
		run = k.lastRun(j)
	}
	k.wantRestarts(1)
	raw, err := os.ReadFile(effects)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(raw)); !slices.Equal(got, []string{"first", "last", "a", "b", "c", "d", "e", "f"}) {
		t.Fatalf("effects %q, want each once, in order", got)
	}
	want(t, k.cairnJournal(j, "journal", "verify", run), ExitOK)
	local := k.cairnJournal(j, "journal", "export", run)
	wantNoStartAfterSuccess(t, "journal export "+run, local.stdout)
	mirror := k.cairnJournal(j, "journal", "export", "--cluster", run, "--lock-namespace", k.ns)
	if mirror.code != ExitOK || mirror.stdout != local.stdout {
		t.Fatalf("the mirror (exit %d) is not the journal that finished the run:\n%s\njournal:\n%s", mirror.code, mirror.stdout, local.stdout)
	}
}

func (k *kubeRun) hasMirrorHead(run string) bool {
	k.t.Helper()
	_, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).Get(context.Background(), "cairn-run-"+run, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		k.t.Fatal(err)
	}
	return err == nil
}
