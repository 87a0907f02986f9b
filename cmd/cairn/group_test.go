package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The crash playbook's group shows as a group with its steps, and its plan
// reads item by item.
func TestGroupShownInPlanAndPlaybooksShow(t *testing.T) {
	j := filepath.Join(t.TempDir(), "j.db")
	book := filepath.Join(repoRoot, "testdata/crash/effects.yaml")
	r := cairn(t, j, "plan", book, "-p", "effects=/dev/null")
	if r.code != ExitOK {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var order []string
	for _, line := range strings.Split(r.stdout, "\n") {
		for _, w := range []string{"group move[one]", "move-a[one]", "move-b[one]", "group move[two]", "move-a[two]", "move-b[two]", "group move[three]", "last"} {
			if strings.Contains(line, w+" ") {
				order = append(order, w)
			}
		}
	}
	if got := strings.Join(order, ","); got != "group move[one],move-a[one],move-b[one],group move[two],move-a[two],move-b[two],group move[three],last" {
		t.Fatalf("plan order %s\n%s", got, r.stdout)
	}
	r = cairn(t, j, "playbooks", "show", book)
	if r.code != ExitOK || !strings.Contains(r.stdout, "group move:") ||
		!strings.Contains(r.stdout, "for each item (at most 2 at once), the steps below in order") {
		t.Fatalf("playbooks show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
