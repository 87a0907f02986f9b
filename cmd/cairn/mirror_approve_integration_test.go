//go:build integration

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// mirrorGateBook restarts web, waits at a gate, then restarts the others.
const mirrorGateBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: mirror-gate}
params:
  ns: {type: string, required: true}
steps:
  - id: canary
    kube.rolloutRestart: {namespace: "${params.ns}", names: [web]}
  - id: canary-ok
    gate: {message: "go on?"}
  - id: rest
    foreach: [api, worker]
    kube.rolloutRestart: {namespace: "${params.ns}", names: ["${item}"]}
`

// gatedRun starts the gated playbook; it stops at the gate.
func gatedRun(t *testing.T) (*kubeRun, string) {
	k := newKubeRun(t)
	for _, n := range mirrorDeployments {
		k.env.CreateWorkload(t, k.ns, kubetest.Workload{Name: n, ProxyVersion: "1.20.3-asm.1"})
	}
	r := k.cairn("run", k.playbook("gate", mirrorGateBook), "-p", "ns="+k.ns)
	want(t, r, ExitOK, "waiting for approval")
	return k, runIDOf(t, r)
}

// An approval of a mirrored run reaches the cluster at once: a machine
// with a fresh journal continues the run past the gate from the mirror.
func TestMirrorApproveWritesToTheMirror(t *testing.T) {
	k, run := gatedRun(t)
	want(t, k.cairn("approve", run, "canary-ok", "--comment", "flat", "--lock-namespace", k.ns), ExitOK,
		"in the journal and the cluster's journal mirror")
	local := k.cairn("journal", "export", run)
	mirror := k.cairn("journal", "export", "--cluster", run, "--lock-namespace", k.ns)
	if mirror.code != ExitOK || mirror.stdout != local.stdout {
		t.Fatalf("the mirror (exit %d) lacks the approval:\n%s\njournal:\n%s", mirror.code, mirror.stdout, local.stdout)
	}
	j2 := filepath.Join(t.TempDir(), "j2.db")
	want(t, k.cairnJournal(j2, "resume", "--from-cluster", run, "--lock-namespace", k.ns), ExitOK, "succeeded")
	k.wantRestarts(1)
	want(t, k.cairnJournal(j2, "journal", "verify", run), ExitOK)
}

// A mirrored run's cluster that cannot be reached: the approval is kept
// locally, with a warning saying so, and the next resume from this
// journal writes it to the mirror.
func TestMirrorApproveUnreachableKeepsItLocal(t *testing.T) {
	k, run := gatedRun(t)
	dead := deadKubeconfig(t)
	r := k.cairn("approve", run, "canary-ok", "--kubeconfig", dead, "--request-timeout", "2s")
	want(t, r, ExitOK, "in the local journal only", "not yet in the cluster's journal mirror", "connection refused")
	mirror := k.cairn("journal", "export", "--cluster", run, "--lock-namespace", k.ns)
	if local := k.cairn("journal", "export", run); mirror.stdout == local.stdout {
		t.Fatal("the mirror has the approval although its cluster could not be reached")
	}
	// The mirror is behind: reported, not a failure.
	want(t, k.cairn("journal", "verify", "--cluster", run, "--lock-namespace", k.ns), ExitOK, "mirror: the cluster's mirror is behind", "only in this journal")
	want(t, k.cairn("resume", run), ExitOK, "succeeded")
	k.wantRestarts(1)
	local := k.cairn("journal", "export", run)
	mirror = k.cairn("journal", "export", "--cluster", run, "--lock-namespace", k.ns)
	if mirror.stdout != local.stdout {
		t.Fatalf("after resume, the mirror is not the journal:\n%s\njournal:\n%s", mirror.stdout, local.stdout)
	}
}

// An approval from a journal the mirror went on without is refused, and
// not written locally either.
func TestMirrorApproveRefusedWhenTheRunWentOn(t *testing.T) {
	k, run := gatedRun(t)
	j2 := filepath.Join(t.TempDir(), "j2.db")
	want(t, k.cairnJournal(j2, "resume", "--from-cluster", run, "--lock-namespace", k.ns), ExitOK, "waiting for approval")
	want(t, k.cairnJournal(j2, "approve", run, "canary-ok", "--lock-namespace", k.ns), ExitOK, "cluster's journal mirror")
	before := k.cairn("journal", "export", run).stdout
	want(t, k.cairn("approve", run, "canary-ok", "--lock-namespace", k.ns), ExitRefused, "went on without this journal")
	if after := k.cairn("journal", "export", run).stdout; after != before {
		t.Fatal("a refused approval was written to the local journal")
	}
}

// deadKubeconfig names a server that refuses connections.
func deadKubeconfig(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + l.Addr().String()
	l.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	err = os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
`, server)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path
}
