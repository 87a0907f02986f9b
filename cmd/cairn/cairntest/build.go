// Package cairntest holds what cmd/cairn's tests share with the playbook
// end-to-end tests: building the cairn binary to run as a process, driving
// headless chromium to check an audit report, and reading the README's
// examples to run them.
package cairntest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Build compiles cmd/cairn with the test-only failpoint (build tag
// failpoint: CAIRN_KILL_AFTER=N makes the process SIGKILL itself right after
// its N-th journal commit) into dir/cairn and returns that path and the
// repository root.
func Build(dir string) (bin, repoRoot string, err error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", "", fmt.Errorf("cairntest: cannot locate cmd/cairn")
	}
	pkg := filepath.Dir(filepath.Dir(file))
	bin = filepath.Join(dir, "cairn")
	build := exec.Command("go", "build", "-tags", "failpoint", "-o", bin, ".")
	build.Dir = pkg
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("building cairn: %v\n%s", err, out)
	}
	return bin, filepath.Join(pkg, "..", ".."), nil
}
