//go:build integration

package main

import (
	"os"
	"regexp"
	"testing"
)

// copyFile copies a journal file, as a backup would.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// journal verify --cluster compares the local head with the mirror's: a
// journal restored from an older copy verifies offline but is behind the
// mirror (exit 3, naming both heads); one extended differently from the
// mirror differs from it (exit 3, naming where).
func TestMirrorVerifyComparesHeads(t *testing.T) {
	k, run := gatedRun(t)
	old := k.journal + ".old"
	copyFile(t, k.journal, old)
	want(t, k.cairn("approve", run, "canary-ok", "--lock-namespace", k.ns), ExitOK)
	want(t, k.cairn("resume", run), ExitOK, "succeeded")
	want(t, k.cairn("journal", "verify", "--cluster", run, "--lock-namespace", k.ns), ExitOK,
		run+": ok", "mirror: the same as the cluster's journal mirror (head seq")

	// The journal as it was at the gate: its chain holds, but it is behind.
	copyFile(t, old, k.journal)
	want(t, k.cairn("journal", "verify", run), ExitOK, run+": ok")
	r := k.cairn("journal", "verify", "--cluster", run, "--lock-namespace", k.ns)
	want(t, r, ExitJournal, run+": FAILED", "this journal lacks events", "this journal's head is seq", "the cluster's mirror's (configmap "+k.ns+"/cairn-run-"+run+") seq")
	if heads := regexp.MustCompile(`seq (\d+) hash [0-9a-f]{16}`).FindAllStringSubmatch(r.stdout, -1); len(heads) != 2 || heads[0][1] == heads[1][1] {
		t.Fatalf("want both heads named, with their seqs:\n%s", r.stdout)
	}

	// Extended on its own (an approval the cluster never saw): it differs.
	want(t, k.cairn("approve", run, "canary-ok", "--kubeconfig", deadKubeconfig(t), "--request-timeout", "1s"), ExitOK, "local journal only")
	want(t, k.cairn("journal", "verify", run), ExitOK)
	want(t, k.cairn("journal", "verify", "--cluster", "--lock-namespace", k.ns), ExitJournal, run+": FAILED", "differ from event", "1 of 1 runs failed")
}
