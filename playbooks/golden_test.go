package playbooks

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/playbooks/invalid/*.golden")

const testdataDir = "../testdata/playbooks"

// loadTestdata loads a file under testdata/playbooks, naming it by its path
// relative to that directory so that goldens do not depend on the checkout.
func loadTestdata(t *testing.T, rel string) (*Playbook, error) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testdataDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return Load(rel, src, testRegistry{})
}

func TestValidPlaybooks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir, "valid", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no valid playbooks found")
	}
	for _, f := range files {
		rel := filepath.Join("valid", filepath.Base(f))
		t.Run(rel, func(t *testing.T) {
			pb, err := loadTestdata(t, rel)
			if err != nil {
				t.Fatalf("unexpected errors:\n%v", err)
			}
			if len(pb.Steps) == 0 {
				t.Fatal("no steps")
			}
		})
	}
}

func TestInvalidPlaybooksGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir, "invalid", "*.yaml"))
	if len(files) < 20 {
		t.Fatalf("only %d invalid playbooks found", len(files))
	}
	for _, f := range files {
		rel := filepath.Join("invalid", filepath.Base(f))
		t.Run(rel, func(t *testing.T) {
			pb, err := loadTestdata(t, rel)
			if err == nil {
				t.Fatalf("loaded without error: %+v", pb)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
			for _, e := range es {
				if e.Pos.File != rel {
					t.Errorf("error without the file name: %v", e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./playbooks -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}
