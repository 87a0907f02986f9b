//go:build integration

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// blipBook labels the namespace, waits (with a watch, through the API
// server) for a ConfigMap the test creates, and labels the namespace again.
// The API server is stopped while the wait runs, and the last step and the
// lock renewals meet it down or just back.
const blipBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: network-blip}
params:
  ns: {type: string, required: true}
steps:
  - id: before
    kube.label: {kind: Namespace, name: "${params.ns}", set: {cairn-phase: before}}
  - id: wait-go
    timeout: %s
    kube.waitFor:
      kind: ConfigMap
      namespace: "${params.ns}"
      name: go
      field: {path: data.go, equals: "yes"}
  - id: after
    kube.label: {kind: Namespace, name: "${params.ns}", set: {cairn-phase: after}}
`

func (k *kubeRun) createGo() {
	k.t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "go", Namespace: k.ns}, Data: map[string]string{"go": "yes"}}
	if _, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

// An API server outage of 20s in the middle of a run, shorter than the
// step's timeout and the lease's duration, is ridden out: the run completes
// without anyone doing anything.
func TestRunRidesOutAPIServerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the API server for 20s")
	}
	k := newKubeRun(t)
	pb := k.playbook("blip", fmt.Sprintf(blipBook, "5m"))
	p := k.start("run", pb, "-p", "ns="+k.ns)
	p.waitStarted("wait-go")

	k.env.RestartAPIServer(t, 20*time.Second)
	k.createGo()

	// The outage outlasts the 15s renewal interval, so a renewal failed
	// and the lock was kept nonetheless.
	want(t, p.wait(), ExitOK, "succeeded", "cannot renew the cluster lock", "cluster lock renewed again")
	if got := k.nsLabel("cairn-phase"); got != "after" {
		t.Fatalf("namespace label cairn-phase=%q, want after", got)
	}
	run := k.lastRun(k.journal)
	want(t, k.cairn("show", run), ExitOK, "succeeded")
	want(t, k.cairn("journal", "verify", run), ExitOK)
}

// An outage longer than the step's timeout fails the run cleanly (exit 1,
// journaled as failed); once the server is back, resume completes it.
func TestOutageLongerThanStepTimeoutFailsThenResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the API server for 25s")
	}
	k := newKubeRun(t)
	pb := k.playbook("blip", fmt.Sprintf(blipBook, "15s"))
	p := k.start("run", pb, "-p", "ns="+k.ns)
	p.waitStarted("wait-go")

	k.env.StopAPIServer(t)
	// Wait for the step to give up while the server is still down; the
	// process then tries to release the lock until the server is back.
	p.waitLog("run.failed", func(m map[string]any) bool { return m["message"] == "run.failed" })
	k.env.StartAPIServer(t)
	r := p.wait()
	want(t, r, ExitFailed, "failed; fix the cause, then: cairn resume")

	k.createGo()
	want(t, k.cairn("resume"), ExitOK, "succeeded")
	if got := k.nsLabel("cairn-phase"); got != "after" {
		t.Fatalf("namespace label cairn-phase=%q, want after", got)
	}
	run := k.lastRun(k.journal)
	want(t, k.cairn("journal", "verify", run), ExitOK)
}
