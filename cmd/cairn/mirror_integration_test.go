//go:build integration

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// mirrorBook uses a secret (echoed by a tool, so it reaches an evidence
// before redaction), then restarts three Deployments one by one.
const mirrorBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: mirror-restart}
params:
  ns: {type: string, required: true}
  token: {type: string, secret: true, required: true}
steps:
  - id: login
    exec: {argv: [/bin/sh, -c, 'echo "logged in with $0"', "${params.token}"]}
  - id: restart
    foreach: [web, api, worker]
    kube.rolloutRestart: {namespace: "${params.ns}", names: ["${item}"]}
`

const mirrorSecret = "s3cr3t-mirror-value-7f2a"

var mirrorDeployments = []string{"web", "api", "worker"}

// mirrorRun starts the playbook against three fresh Deployments and has it
// SIGKILL itself after the 6th journal commit: login done, web restarted
// and its success journaled locally only (it waits for the next started
// event to reach the cluster), api not started.
func mirrorRun(t *testing.T) (*kubeRun, string) {
	k := newKubeRun(t)
	for _, n := range mirrorDeployments {
		k.env.CreateWorkload(t, k.ns, kubetest.Workload{Name: n, ProxyVersion: "1.20.3-asm.1"})
	}
	pb := k.playbook("mirror", mirrorBook)
	cmd := k.command(k.journal, "run", pb, "-p", "ns="+k.ns, "-p", "token="+mirrorSecret, "--lock-namespace", k.ns)
	cmd.Env = append(cmd.Env, "CAIRN_KILL_AFTER=6")
	out, err := cmd.CombinedOutput()
	if !killedBySignal(err) {
		t.Fatalf("the run was not killed: %v\n%s", err, out)
	}
	return k, k.lastRun(k.journal)
}

// ageLease makes the dead process's lease stale, as if it died minutes ago.
func (k *kubeRun) ageLease() {
	k.t.Helper()
	le := k.lease()
	old := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	le.Spec.RenewTime, le.Spec.AcquireTime = &old, &old
	if _, err := k.env.Clientset.CoordinationV1().Leases(k.ns).Update(context.Background(), le, metav1.UpdateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

// wantRestartedOnce checks every Deployment was restarted exactly once: one
// template change since it was created.
func (k *kubeRun) wantRestartedOnce() {
	k.t.Helper()
	for _, n := range mirrorDeployments {
		d, err := k.env.Clientset.AppsV1().Deployments(k.ns).Get(context.Background(), n, metav1.GetOptions{})
		if err != nil {
			k.t.Fatal(err)
		}
		if d.Generation != 2 || d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
			k.t.Errorf("deployment %s: generation %d, restartedAt %q: want restarted exactly once", n, d.Generation,
				d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"])
		}
	}
}

// wantNoSecretInCluster greps every ConfigMap in the lock namespace.
func (k *kubeRun) wantNoSecretInCluster() {
	k.t.Helper()
	cms, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	mirrored := 0
	for _, cm := range cms.Items {
		if cm.Labels[cluster.MirrorRunLabel] != "" {
			mirrored++
		}
		for key, v := range cm.Data {
			if strings.Contains(v, mirrorSecret) {
				k.t.Errorf("configmap %s data.%s holds the secret", cm.Name, key)
			}
		}
		for key, v := range cm.BinaryData {
			if strings.Contains(string(v), mirrorSecret) {
				k.t.Errorf("configmap %s binaryData.%s holds the secret", cm.Name, key)
			}
		}
	}
	if mirrored == 0 {
		k.t.Fatal("no mirror configmaps in the lock namespace")
	}
}

// Machine 1 is killed midway and its journal lost; machine 2, with an empty
// journal, resumes from the cluster: refused while the dead run's lease is
// fresh, then, once stale, the run completes with every Deployment
// restarted exactly once, and the new journal and the mirror verify.
func TestMirrorResumeFromClusterAfterKill(t *testing.T) {
	k, run := mirrorRun(t)
	if err := os.Remove(k.journal); err != nil {
		t.Fatal(err)
	}
	want(t, k.cairnJournal(k.journal, "runs", "--cluster", "--lock-namespace", k.ns), ExitOK, run, "mirror-restart", "running")

	j2 := filepath.Join(t.TempDir(), "j2.db")
	resume := []string{"resume", "--from-cluster", "-p", "token=" + mirrorSecret, "--lock-namespace", k.ns}
	// The import is kept; the next resume goes on from it.
	want(t, k.cairnJournal(j2, resume...), ExitRefused, "imported the run from the cluster's journal mirror", "another cairn run is using this cluster", run)
	k.ageLease()
	// Its lease stale, the run is no longer shown as running.
	if r := k.cairnJournal(j2, "runs", "--cluster", "--status", "interrupted", "-q", "--lock-namespace", k.ns); r.code != ExitOK || strings.TrimSpace(r.stdout) != run {
		t.Fatalf("runs --cluster --status interrupted: exit %d, %q, want %s", r.code, r.stdout, run)
	}
	r := k.cairnJournal(j2, resume...)
	want(t, r, ExitOK, "succeeded", "the run is in this journal already", "lock.takenover")

	k.wantRestartedOnce()
	want(t, k.cairnJournal(j2, "journal", "verify", run), ExitOK)
	// login ran from the lost journal: its output file stayed there.
	want(t, k.cairnJournal(j2, "logs", run, "login"), ExitOK, "is missing: output is kept beside the journal that ran the attempt")
	evs := k.events(j2, run)
	checked := 0
	for _, e := range evs {
		if e.Type == "instance.checked" {
			checked++
		}
	}
	if checked != 1 {
		t.Errorf("%d instances re-checked on resume, want 1 (web, whose success was only local)", checked)
	}
	want(t, k.cairnJournal(j2, "show", "--cluster", run, "--lock-namespace", k.ns), ExitOK, "succeeded", "ok")
	want(t, k.cairnJournal(j2, "runs", "--cluster", "--lock-namespace", k.ns), ExitOK, run, "succeeded")
	// Run references read against the mirror as against a journal.
	want(t, k.cairnJournal(filepath.Join(t.TempDir(), "j5.db"), "show", "--cluster", run[:len(run)-3], "--lock-namespace", k.ns), ExitOK, run, "succeeded")
	want(t, k.cairnJournal(filepath.Join(t.TempDir(), "j5.db"), "show", "--cluster", "--lock-namespace", k.ns), ExitOK, run, "succeeded")
	if r := k.cairnJournal(j2, "runs", "--cluster", "--status", "failed", "-q", "--lock-namespace", k.ns); r.code != ExitOK || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("runs --cluster --status failed: exit %d, %q, want no runs", r.code, r.stdout)
	}
	exp := k.cairnJournal(j2, "journal", "export", "--cluster", run, "--lock-namespace", k.ns)
	loc := k.cairnJournal(j2, "journal", "export", run)
	if exp.code != 0 || exp.stdout != loc.stdout {
		t.Fatalf("the cluster's export differs from the journal's (exit %d):\n%s\nlocal:\n%s", exp.code, exp.stdout, loc.stdout)
	}
	k.wantNoSecretInCluster()
}

// Two machines resume the same run from the cluster at once: one wins and
// completes, the other stops with a clear error; nothing runs twice. (The
// race between two writers of one mirror is TestMirrorSecondWriterLoses in
// steps/cluster.)
func TestMirrorTwoResumersOneWins(t *testing.T) {
	k, run := mirrorRun(t)
	k.ageLease()
	var procs []*proc
	for _, name := range []string{"j2.db", "j3.db"} {
		j := filepath.Join(t.TempDir(), name)
		procs = append(procs, k.startJournal(j, "resume", "--from-cluster", run, "-p", "token="+mirrorSecret, "--lock-namespace", k.ns))
	}
	a, b := procs[0].wait(), procs[1].wait()
	if a.code == ExitOK == (b.code == ExitOK) {
		t.Fatalf("want exactly one resume to succeed: exits %d and %d\n%s\n%s", a.code, b.code, a.stderr, b.stderr)
	}
	loser := b
	if a.code != ExitOK {
		loser = a
	}
	// Refused by the lease while the winner holds it, or by the mirror once
	// the winner extended it.
	if loser.code != ExitRefused || !strings.Contains(loser.stderr, "another cairn run is using this cluster") && !strings.Contains(loser.stderr, "went on without this journal") {
		t.Fatalf("the loser: exit %d\n%s", loser.code, loser.stderr)
	}
	k.wantRestartedOnce()
	want(t, k.cairnJournal(filepath.Join(t.TempDir(), "j4.db"), "show", "--cluster", run, "--lock-namespace", k.ns), ExitOK, "succeeded", "ok")
}

// A broken chain in the mirror is refused before anything runs (exit 3).
func TestMirrorBrokenChainIsRefused(t *testing.T) {
	k, run := mirrorRun(t)
	cm, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).Get(context.Background(), "cairn-run-"+run, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["events"] = strings.Replace(cm.Data["events"], `"step":"login"`, `"step":"logon"`, 1)
	if _, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.ageLease()
	j2 := filepath.Join(t.TempDir(), "j2.db")
	want(t, k.cairnJournal(j2, "resume", "--from-cluster", run, "-p", "token="+mirrorSecret, "--lock-namespace", k.ns), ExitJournal, "cannot be trusted", "content does not match its hash")
	want(t, k.cairnJournal(j2, "show", "--cluster", run, "--lock-namespace", k.ns), ExitOK, "FAILED")
}
