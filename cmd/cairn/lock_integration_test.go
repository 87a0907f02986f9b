//go:build integration

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow/action"
)

// holdBook labels the namespace, then holds the run (and so the lock) until
// the test creates the flag file.
const holdBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: hold}
params:
  ns: {type: string, required: true}
  flag: {type: string, required: true}
steps:
  - id: mark
    kube.label: {kind: Namespace, name: "${params.ns}", set: {cairn-lock-test: held}}
  - id: hold
    exec: {argv: [sh, -c, 'while [ ! -e "$0" ]; do sleep 0.1; done', "${params.flag}"]}
`

func (k *kubeRun) holdArgs() (pb, flag string) {
	return k.playbook("hold", holdBook), filepath.Join(k.dir, "flag")
}

func release(t *testing.T, flag string) {
	t.Helper()
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (k *kubeRun) lease() *coordv1.Lease {
	k.t.Helper()
	le, err := k.env.Clientset.CoordinationV1().Leases(k.ns).Get(context.Background(), cluster.DefaultLockName, metav1.GetOptions{})
	if err != nil {
		k.t.Fatalf("lease: %v", err)
	}
	return le
}

// Two processes with two journals against one cluster: the second is
// refused, naming the first's user, host, run and since when; once the
// first is done a new run goes through.
func TestSecondRunIsRefusedNamingTheHolder(t *testing.T) {
	k := newKubeRun(t)
	pb, flag := k.holdArgs()
	first := k.start("run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag)
	first.waitStarted("hold")

	var holder cluster.Holder
	if err := json.Unmarshal([]byte(k.lease().Annotations[cluster.HolderAnnotation]), &holder); err != nil {
		t.Fatalf("lease holder annotation: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.db")
	r := k.cairnJournal(other, "run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag, "--lock-namespace", k.ns)
	user, host := action.Identity()
	want(t, r, ExitRefused, "another cairn run is using this cluster", holder.RunID, user+"@"+host, "since "+holder.Since.UTC().Format(time.RFC3339))
	if _, err := os.Stat(other); err == nil {
		if ids := k.lastRun(other); ids != "" {
			t.Fatalf("the refused run was journaled as %s", ids)
		}
	}

	release(t, flag)
	want(t, first.wait(), ExitOK)
	if got := k.lastRun(k.journal); got != holder.RunID {
		t.Fatalf("the lease named run %s, the journal has %s", holder.RunID, got)
	}
	if _, err := k.env.Clientset.CoordinationV1().Leases(k.ns).Get(context.Background(), cluster.DefaultLockName, metav1.GetOptions{}); err == nil {
		t.Fatal("the lease outlived the run")
	}
	want(t, k.cairnJournal(other, "run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag, "--lock-namespace", k.ns), ExitOK)
}

// A lease whose holder stopped renewing long ago is taken over, and the
// takeover, naming the previous holder, is in the journal.
func TestStaleLeaseIsTakenOverAndJournaled(t *testing.T) {
	k := newKubeRun(t)
	pb, flag := k.holdArgs()
	release(t, flag)
	prev, _ := json.Marshal(cluster.Holder{User: "bob", Host: "jumpbox", RunID: "20250101-000000-dead00", Command: "run", Since: time.Now().Add(-2 * time.Hour)})
	id, secs, old := "cairn 20250101-000000-dead00 bob@jumpbox pid 4242", int32(60), metav1.NewMicroTime(time.Now().Add(-time.Hour))
	_, err := k.env.Clientset.CoordinationV1().Leases(k.ns).Create(context.Background(), &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: cluster.DefaultLockName, Annotations: map[string]string{cluster.HolderAnnotation: string(prev)}},
		Spec:       coordv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &secs, AcquireTime: &old, RenewTime: &old},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := k.cairn("run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag)
	want(t, r, ExitOK, "lock.takenover", "bob@jumpbox")
	run := k.lastRun(k.journal)
	var found bool
	for _, ev := range k.events(k.journal, run) {
		if ev.Type == "lock.takenover" {
			found = strings.Contains(ev.Evidence, "20250101-000000-dead00") && strings.Contains(ev.Evidence, "bob@jumpbox") && strings.Contains(ev.Evidence, "stale since")
		}
	}
	if !found {
		t.Fatalf("no lock.takenover event naming the previous holder in run %s", run)
	}
	want(t, k.cairn("show", run, "--events"), ExitOK, "lock.takenover", "bob@jumpbox")
}

// A run whose lease is taken by someone else stops as interrupted (130)
// and says why; resume is refused while the other holds the lock and goes
// on once it is free.
func TestLostLockInterruptsRunAndResumeContinues(t *testing.T) {
	k := newKubeRun(t)
	pb, flag := k.holdArgs()
	p := k.start("run", pb, "-p", "ns="+k.ns, "-p", "flag="+flag)
	p.waitStarted("hold")

	le := k.lease()
	other := "change-freeze by ops (not cairn)"
	now := metav1.NewMicroTime(time.Now())
	le.Spec.HolderIdentity, le.Spec.RenewTime = &other, &now
	delete(le.Annotations, cluster.HolderAnnotation)
	if _, err := k.env.Clientset.CoordinationV1().Leases(k.ns).Update(context.Background(), le, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The next renewal (every 15s) finds the lease gone to someone else.
	r := p.wait()
	want(t, r, ExitInterrupted, "cluster lock lost", other, "cairn resume")
	run := k.lastRun(k.journal)
	evs := k.events(k.journal, run)
	if last := evs[len(evs)-1]; last.Type != "run.interrupted" || !strings.Contains(last.Error, "cluster lock lost") {
		t.Fatalf("last event %+v", last)
	}

	release(t, flag)
	want(t, k.cairn("resume", run), ExitRefused, other)
	if err := k.env.Clientset.CoordinationV1().Leases(k.ns).Delete(context.Background(), cluster.DefaultLockName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want(t, k.cairn("resume", run), ExitOK, "succeeded")
}
