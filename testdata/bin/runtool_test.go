package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runTool runs one tool in-process, as `fakebins` invoked under that name
// would, and returns its exit code and output streams. Only refusals that
// come before any cluster access can be tested here; the rest is covered
// by the integration tests.
func runTool(t *testing.T, tool, version string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv(envVersion+"_"+strings.ToUpper(tool), version)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing-kubeconfig"))
	outF, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saveOut, saveErr, saveIn := os.Stdout, os.Stderr, os.Stdin
	devnull, _ := os.Open(os.DevNull)
	os.Stdout, os.Stderr, os.Stdin = outF, errF, devnull
	code := dispatch(&invocation{tool: tool, args: args, path: filepath.Join(t.TempDir(), tool)})
	os.Stdout, os.Stderr, os.Stdin = saveOut, saveErr, saveIn
	read := func(f *os.File) string {
		_, _ = f.Seek(0, io.SeekStart)
		b, _ := io.ReadAll(f)
		f.Close()
		return string(b)
	}
	return code, read(outF), read(errF)
}

type refusal struct {
	tool, version string
	args          []string
	code          int
	stderr        string // regexp the stderr must match
	stdout        string // regexp the stdout must match, if set
}

func checkRefusals(t *testing.T, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		code, stdout, stderr := runTool(t, c.tool, c.version, c.args...)
		name := c.tool + " " + c.version + " " + strings.Join(c.args, " ")
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", name, code, c.code, stdout, stderr)
		}
		if !regexp.MustCompile(c.stderr).MatchString(stderr) {
			t.Errorf("%s: stderr %q does not match %q", name, stderr, c.stderr)
		}
		if c.stdout != "" && !regexp.MustCompile(c.stdout).MatchString(stdout) {
			t.Errorf("%s: stdout %q does not match %q", name, stdout, c.stdout)
		}
	}
}
