//go:build integration

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

const identityBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: identity}
params:
  key: {type: string, required: true}
steps:
  - id: mark
    kube.label: {kind: Namespace, name: default, set: {"cairn-identity": started}}
  - id: ok
    gate: {message: "go on?"}
  - id: finish
    kube.label: {kind: Namespace, name: default, set: {"cairn-identity": "${params.key}"}}
`

// secondCluster starts another control plane, which has its own
// kube-system namespace and so its own UID, and stops it after the test.
func secondCluster(t *testing.T) string {
	t.Helper()
	c, err := kubetest.StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Log(err)
		}
	})
	return c.Kubeconfig
}

// renamedContext writes a copy of kubeconfig whose context has another
// name: the same cluster, reached as a colleague's kubeconfig might.
func renamedContext(t *testing.T, kubeconfig, name string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[name] = cfg.Contexts[cfg.CurrentContext]
	delete(cfg.Contexts, cfg.CurrentContext)
	cfg.CurrentContext = name
	path := filepath.Join(t.TempDir(), "renamed")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Resume compares the cluster it would act on with the run's: another
// cluster (another kube-system UID and server) is refused unless --force,
// which is journaled; the same cluster under another context name is fine.
// These runs use the default lock namespace, kube-system.
func TestResumeRefusesAnotherClusterButNotAnotherContextName(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second control plane")
	}
	k := newKubeRun(t)
	other := secondCluster(t)
	pb := k.playbook("identity", identityBook)

	r := k.cairnJournal(k.journal, "run", pb, "-p", "key=one")
	want(t, r, ExitOK, "waiting for approval")
	run := runIDOf(t, r)
	want(t, k.cairnJournal(k.journal, "runs"), ExitOK, "cairn@https://127.0.0.1:")
	want(t, k.cairnJournal(k.journal, "approve", run, "ok"), ExitOK)

	r = k.cairnJournal(k.journal, "resume", run, "--kubeconfig", other)
	want(t, r, ExitRefused, "a different cluster", "kube-system-uid", "--force")
	if strings.Contains(r.stderr, `context "`) {
		t.Fatalf("the context name should not count as a difference: %s", r.stderr)
	}

	renamed := renamedContext(t, k.env.Kubeconfig, "prod-admin")
	want(t, k.cairnJournal(k.journal, "resume", run, "--kubeconfig", renamed), ExitOK, "succeeded")
	for _, ev := range k.events(k.journal, run) {
		if ev.Type == "run.forced" {
			t.Fatalf("a renamed context was journaled as an override: %+v", ev)
		}
	}

	// Forced onto the other cluster: allowed, and the override is journaled.
	r = k.cairnJournal(k.journal, "run", pb, "-p", "key=two")
	want(t, r, ExitOK, "waiting for approval")
	run2 := runIDOf(t, r)
	want(t, k.cairnJournal(k.journal, "approve", run2, "ok"), ExitOK)
	want(t, k.cairnJournal(k.journal, "resume", run2, "--kubeconfig", other, "--force"), ExitOK, "succeeded")
	var forced bool
	for _, ev := range k.events(k.journal, run2) {
		forced = forced || (ev.Type == "run.forced" && strings.Contains(ev.Evidence, "a different cluster") && ev.User != "")
	}
	if !forced {
		t.Fatalf("run %s: no run.forced event for the other cluster", run2)
	}
}
