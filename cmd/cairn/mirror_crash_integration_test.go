//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// mirrorCrashBook appends to an effects file before and after restarting
// the three Deployments, each exec with a check that finds its line.
const mirrorCrashBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: mirror-crash}
params:
  ns: {type: string, required: true}
  effects: {type: string, required: true}
steps:
  - id: first
    exec: {argv: [/bin/sh, -c, 'echo first >> "$1"', sh, "${params.effects}"]}
    check:
      exec: {argv: [grep, -qx, first, "${params.effects}"]}
  - id: restart
    foreach: [web, api, worker]
    kube.rolloutRestart: {namespace: "${params.ns}", names: ["${item}"]}
  - id: last
    exec: {argv: [/bin/sh, -c, 'echo last >> "$1"', sh, "${params.effects}"]}
    check:
      exec: {argv: [grep, -qx, last, "${params.effects}"]}
`

// crashPoint is one kill of the matrix: CAIRN_KILL_AFTER=N (right after
// the N-th local commit and, for a started event, its mirror write: before
// the side effect) or CAIRN_KILL_BEFORE_MIRROR=N (before the N-th mirror
// write, after the local commits it carries); then resume from the same
// journal or, with --from-cluster, from a fresh one.
type crashPoint struct {
	env         string
	n           int
	fromCluster bool
}

func (p crashPoint) String() string {
	how := "same-journal"
	if p.fromCluster {
		how = "from-cluster"
	}
	return fmt.Sprintf("%s=%d/%s", p.env, p.n, how)
}

// TestMirrorCrashMatrix kills a mirrored run at every journal commit and
// before every mirror write, resumes it from the same journal and, with
// --from-cluster, from a fresh one, and checks exactly-once: each
// Deployment restarted once, each exec once, no instance started again
// after its success, the journals verify and the mirror holds the same
// history as the journal that finished the run. Each point is a subtest
// named after it: go test -run 'TestMirrorCrashMatrix/CAIRN_KILL_AFTER=5_from-cluster'
// replays one.
func TestMirrorCrashMatrix(t *testing.T) {
	// The fewest points each failpoint must have in this run: 13 commits
	// (run, 5 instances started and succeeded, run end), 6 mirror writes (5
	// started events, the last at exit).
	for _, env := range []struct {
		name string
		min  int
	}{{"CAIRN_KILL_AFTER", 12}, {"CAIRN_KILL_BEFORE_MIRROR", 6}} {
		for n := 1; ; n++ {
			past := false
			for _, fromCluster := range []bool{false, true} {
				p := crashPoint{env: env.name, n: n, fromCluster: fromCluster}
				ok := t.Run(strings.ReplaceAll(p.String(), "/", "_"), func(t *testing.T) {
					past = mirrorCrashAt(t, p)
				})
				if !ok {
					t.Fatalf("failed at crash point %s", p)
				}
			}
			if past {
				if n <= env.min {
					t.Fatalf("%s: the run was not killed at %d: too few points", env.name, n)
				}
				t.Logf("%s: %d points", env.name, n-1)
				break
			}
		}
	}
}

// mirrorCrashAt runs the matrix at one point; true if the run was not
// killed there (the point is past its end).
func mirrorCrashAt(t *testing.T, p crashPoint) bool {
	k := newKubeRun(t)
	for _, n := range mirrorDeployments {
		k.env.CreateWorkload(t, k.ns, kubetest.Workload{Name: n, ProxyVersion: "1.20.3-asm.1"})
	}
	effects := filepath.Join(k.dir, "effects.log")
	pb := k.playbook("crash", mirrorCrashBook)
	cmd := k.command(k.journal, "run", pb, "-p", "ns="+k.ns, "-p", "effects="+effects, "--lock-namespace", k.ns)
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", p.env, p.n))
	out, err := cmd.CombinedOutput()
	if !killedBySignal(err) {
		if err != nil {
			t.Fatalf("not killed, and failed: %v\n%s", err, out)
		}
		return true
	}
	run := k.lastRun(k.journal)
	if run == "" {
		t.Fatal("killed before the run was journaled")
	}
	j := k.journal
	if p.fromCluster {
		j = filepath.Join(t.TempDir(), "j2.db")
		k.ageLeaseIfAny()
		if _, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).Get(context.Background(), "cairn-run-"+run, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			// Killed before the first mirror write: nothing was done in
			// the cluster, and only the first journal can resume the run.
			want(t, k.cairnJournal(j, "resume", "--from-cluster", run, "--lock-namespace", k.ns), ExitJournal, run)
			k.wantRestarts(0)
			j = k.journal
		}
	}
	args := []string{"resume", run, "--lock-namespace", k.ns}
	if j != k.journal {
		args = append(args, "--from-cluster")
	}
	for i := 0; ; i++ {
		r := k.cairnJournal(j, args...)
		if r.code == ExitOK || r.code == ExitRefused && strings.Contains(r.stderr, "nothing is left to resume") {
			break
		}
		if i == 3 {
			t.Fatalf("the run did not finish after 4 resumes; the last: exit %d\n%s", r.code, r.stderr)
		}
		t.Logf("resume %d: exit %d\n%s", i, r.code, r.stderr)
	}
	k.wantRestarts(1)
	raw, err := os.ReadFile(effects)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(raw)); !slices.Equal(got, []string{"first", "last"}) {
		t.Fatalf("effects %q, want first and last once each", got)
	}
	for _, jj := range []string{k.journal, j} {
		want(t, k.cairnJournal(jj, "journal", "verify", run), ExitOK)
	}
	local := k.cairnJournal(j, "journal", "export", run)
	wantNoStartAfterSuccess(t, "journal export "+run, local.stdout)
	mirror := k.cairnJournal(j, "journal", "export", "--cluster", run, "--lock-namespace", k.ns)
	if mirror.code != ExitOK || mirror.stdout != local.stdout {
		t.Fatalf("the mirror (exit %d) is not the journal that finished the run:\n%s\njournal:\n%s", mirror.code, mirror.stdout, local.stdout)
	}
	return false
}

// ageLeaseIfAny makes the lock's lease stale, if the run got to take it.
func (k *kubeRun) ageLeaseIfAny() {
	k.t.Helper()
	_, err := k.env.Clientset.CoordinationV1().Leases(k.ns).Get(context.Background(), cluster.DefaultLockName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	k.ageLease()
}

// wantRestarts checks each Deployment was restarted n times: one template
// change (and generation) per restart.
func (k *kubeRun) wantRestarts(n int64) {
	k.t.Helper()
	for _, name := range mirrorDeployments {
		d, err := k.env.Clientset.AppsV1().Deployments(k.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			k.t.Fatal(err)
		}
		restarted := d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != ""
		if d.Generation != 1+n || restarted != (n > 0) {
			k.t.Fatalf("deployment %s: generation %d, restartedAt %v: want %d restarts", name, d.Generation, restarted, n)
		}
	}
}

// Killed after the run's last local commit, before its last mirror write:
// the run is finished in the journal, and behind in the cluster. A plain
// resume has nothing to continue, and says so, but writes the mirror's
// missing events first, so that the cluster shows the run finished too.
func TestMirrorPlainResumeCatchesUpAFinishedRun(t *testing.T) {
	k := newKubeRun(t)
	for _, n := range mirrorDeployments {
		k.env.CreateWorkload(t, k.ns, kubetest.Workload{Name: n, ProxyVersion: "1.20.3-asm.1"})
	}
	effects := filepath.Join(k.dir, "effects.log")
	cmd := k.command(k.journal, "run", k.playbook("crash", mirrorCrashBook), "-p", "ns="+k.ns, "-p", "effects="+effects, "--lock-namespace", k.ns)
	cmd.Env = append(cmd.Env, "CAIRN_KILL_BEFORE_MIRROR=6") // 5 started events, then the write at exit
	if out, err := cmd.CombinedOutput(); !killedBySignal(err) {
		t.Fatalf("not killed before the last mirror write: %v\n%s", err, out)
	}
	run := k.lastRun(k.journal)
	want(t, k.cairnJournal(k.journal, "runs", "--status", "succeeded", "-q"), ExitOK, run)
	local := k.cairnJournal(k.journal, "journal", "export", run).stdout
	mirror := k.cairnJournal(k.journal, "journal", "export", "--cluster", run, "--lock-namespace", k.ns).stdout
	if mirror == local {
		t.Fatal("the mirror is not behind: the kill point missed the last write")
	}
	r := k.cairnJournal(k.journal, "resume", "--lock-namespace", k.ns)
	if r.code != ExitRefused || !strings.Contains(r.stderr, "no unfinished run") || !strings.Contains(r.stderr, "mirror in the cluster was behind") {
		t.Fatalf("plain resume: exit %d\n%s", r.code, r.stderr)
	}
	if got := k.cairnJournal(k.journal, "journal", "export", "--cluster", run, "--lock-namespace", k.ns).stdout; got != local {
		t.Fatalf("the mirror was not caught up:\n%s\njournal:\n%s", got, local)
	}
	want(t, k.cairnJournal(k.journal, "runs", "--cluster", "--status", "succeeded", "-q", "--lock-namespace", k.ns), ExitOK, run)
	if r := k.cairnJournal(k.journal, "resume", "--lock-namespace", k.ns); r.code != ExitRefused || strings.Contains(r.stderr, "mirror") {
		t.Fatalf("a second plain resume: exit %d\n%s", r.code, r.stderr)
	}
	k.wantRestarts(1)
}
