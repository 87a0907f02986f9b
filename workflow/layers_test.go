package workflow_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The packages form layers, cmd -> action -> workflow -> steps ->
// playbooks/journal, with cluster access beside steps; nothing imports
// upward, and the engine links no client-go.
func TestLayers(t *testing.T) {
	const mod = "github.com/cairn-dev/cairn/"
	rank := map[string]int{
		"journal":         0,
		"playbooks":       0,
		"runlog":          0,
		"steps":           1,
		"steps/cluster":   1,
		"steps/kube":      2,
		"workflow":        2,
		"workflow/action": 3,
		"cmd/cairn":       4,
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ok := strings.CutPrefix(fields[0], mod)
		r, ranked := rank[pkg]
		if !ok || !ranked {
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			dep, ok := strings.CutPrefix(imp, mod)
			if !ok {
				continue
			}
			dr, ranked := rank[dep]
			if !ranked {
				t.Errorf("%s imports %s, which has no place in the layers", pkg, dep)
			} else if dr >= r {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must go down", pkg, r, dep, dr)
			}
		}
	}
	if seen != len(rank) {
		t.Errorf("found %d of the %d layered packages", seen, len(rank))
	}
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(deps)) {
		if strings.HasPrefix(d, "k8s.io/") {
			t.Errorf("workflow links %s: cluster access belongs in steps/cluster, behind an interface", d)
		}
	}
}
