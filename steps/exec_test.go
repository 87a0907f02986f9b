//go:build unix

package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runExec validates p as the loader would, then runs it.
func runExec(t *testing.T, ctx context.Context, p *ExecParams) (Result, error) {
	t.Helper()
	return runExecWith(t, ctx, Deps{}, p)
}

func runExecWith(t *testing.T, ctx context.Context, deps Deps, p *ExecParams) (Result, error) {
	t.Helper()
	if errs := p.Validate(); len(errs) > 0 {
		t.Fatalf("Validate: %v", errs)
	}
	ex, err := NewRegistry(deps).Executor("exec")
	if err != nil {
		t.Fatal(err)
	}
	return ex.Run(ctx, Instance{RunID: "r1", StepID: "s1", Item: "ns-a", Attempt: 2, Token: "tok", Params: p})
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestExecExitCodes(t *testing.T) {
	res, err := runExec(t, t.Context(), &ExecParams{Argv: sh("echo hello; exit 0")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Evidence, "exit code 0 in ") || !strings.Contains(res.Evidence, "--- stdout (6 bytes) ---\nhello\n") {
		t.Errorf("evidence:\n%s", res.Evidence)
	}

	res, err = runExec(t, t.Context(), &ExecParams{Argv: sh("echo boom >&2; exit 3")})
	wantErr(t, err, true, "exit code 3, expected one of [0]", "stderr tail: boom")
	if !strings.Contains(res.Evidence, "--- stderr (5 bytes) ---\nboom\n") {
		t.Errorf("failure evidence lacks stderr:\n%s", res.Evidence)
	}

	_, err = runExec(t, t.Context(), &ExecParams{Argv: sh("echo only-out; exit 1")})
	wantErr(t, err, true, "exit code 1", "stdout tail: only-out")

	if _, err := runExec(t, t.Context(), &ExecParams{Argv: sh("exit 3"), ExpectExitCodes: []int{0, 3}}); err != nil {
		t.Errorf("exit 3 with expectExitCodes [0 3]: %v", err)
	}
	_, err = runExec(t, t.Context(), &ExecParams{Argv: sh("exit 0"), ExpectExitCodes: []int{1}})
	wantErr(t, err, true, "exit code 0, expected one of [1]")
}

func TestExecExpect(t *testing.T) {
	if _, err := runExec(t, t.Context(), &ExecParams{Argv: sh("echo 'Signature Verified OK'"), Expect: `Verified OK`}); err != nil {
		t.Errorf("matching expect: %v", err)
	}
	_, err := runExec(t, t.Context(), &ExecParams{Argv: sh("echo 'Verification FAILED'"), Expect: `Verified OK`})
	wantErr(t, err, true, "stdout did not match expect /Verified OK/", "stdout tail: Verification FAILED")
	_, err = runExec(t, t.Context(), &ExecParams{Argv: sh("true"), Expect: `Verified OK`})
	wantErr(t, err, true, "stdout did not match expect /Verified OK/; stdout is empty")
}

func TestExecOutputsRegex(t *testing.T) {
	p := &ExecParams{
		Argv: sh("echo 'labels: istio.io/rev=1-22-3 app=x'"),
		OutputSpecs: map[string]ExecOutput{
			"rev":   {Regex: `istio.io/rev=(\S+)`},
			"whole": {Regex: `app=\w+`},
		},
	}
	res, err := runExec(t, t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["rev"] != "1-22-3" || res.Outputs["whole"] != "app=x" {
		t.Errorf("outputs = %v", res.Outputs)
	}

	p.OutputSpecs["missing"] = ExecOutput{Regex: `revision=(\d+)`}
	_, err = runExec(t, t.Context(), p)
	wantErr(t, err, true, `output missing: regex /revision=(\d+)/ did not match stdout`)
}

func TestExecOutputsJSON(t *testing.T) {
	doc := `{"clientVersion":{"version":"1.22.3","minor":10.10,"ok":true},"items":[{"name":"a"},{"name":"b"}],"nil":null}`
	p := &ExecParams{
		Argv: []string{"/bin/echo", doc},
		OutputSpecs: map[string]ExecOutput{
			"version": {JSON: "clientVersion.version"},
			"minor":   {JSON: "clientVersion.minor"},
			"ok":      {JSON: "clientVersion.ok"},
			"second":  {JSON: "items.1.name"},
		},
	}
	res, err := runExec(t, t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"version": "1.22.3", "minor": "10.10", "ok": "true", "second": "b"}
	for k, v := range want {
		if res.Outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.Outputs[k], v)
		}
	}

	for path, msg := range map[string]string{
		"clientVersion.gitVersion": "clientVersion.gitVersion not found",
		"items.2.name":             "items.2 not found: the list has 2 elements",
		"clientVersion":            "is an object, not a string, number or bool",
		"nil":                      "is null",
	} {
		p.OutputSpecs = map[string]ExecOutput{"x": {JSON: path}}
		_, err := runExec(t, t.Context(), p)
		wantErr(t, err, true, "output x: json path "+path, msg)
	}

	p.Argv = []string{"/bin/echo", "not json"}
	_, err = runExec(t, t.Context(), p)
	wantErr(t, err, true, "stdout is not JSON")
}

func TestExecTailCapped(t *testing.T) {
	// 100 KB that starts with FIRST-LINE and ends with LAST-LINE.
	script := `echo FIRST-LINE; i=0; while [ $i -lt 1600 ]; do echo "................................................................"; i=$((i+1)); done; echo LAST-LINE; echo err-end >&2`
	res, err := runExec(t, t.Context(), &ExecParams{Argv: sh(script), TailBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	const headers = 200
	if len(res.Evidence) > 1000+len("err-end\n")+headers {
		t.Errorf("evidence is %d bytes, want <= %d", len(res.Evidence), 1000+headers)
	}
	if !strings.Contains(res.Evidence, "LAST-LINE\n") || strings.Contains(res.Evidence, "FIRST-LINE") {
		t.Errorf("evidence should hold the end of stdout only:\n%s", res.Evidence)
	}
	if !strings.Contains(res.Evidence, "--- stdout (last 1000 of 104021 bytes) ---") {
		t.Errorf("evidence header:\n%.200s", res.Evidence)
	}
	if !strings.HasSuffix(res.Evidence, "--- stderr (8 bytes) ---\nerr-end\n") {
		t.Errorf("evidence ending:\n%s", res.Evidence[len(res.Evidence)-100:])
	}

	// expect and outputs search all of stdout, not only the tail.
	_, err = runExec(t, t.Context(), &ExecParams{Argv: sh(script), TailBytes: 1000, Expect: "^FIRST-LINE"})
	if err != nil {
		t.Errorf("expect on the head of a long stdout: %v", err)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := `sleep 100 & echo $! > ` + pidFile + `; echo started; sleep 100`
	res, err := runExec(t, t.Context(), &ExecParams{Argv: sh(script), Timeout: 500 * time.Millisecond})
	wantErr(t, err, false, "timed out after 500ms", "stdout tail: started")
	if !strings.Contains(res.Evidence, "killed by signal killed") {
		t.Errorf("evidence:\n%s", res.Evidence)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestExecContextCancelKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := runExec(t, ctx, &ExecParams{Argv: sh(`sleep 100 & echo $! > ` + pidFile + `; sleep 100`)})
	if !errors.Is(err, context.Canceled) || isPermanent(err) {
		t.Errorf("err = %v, want a plain context.Canceled", err)
	}
	waitGone(t, readPid(t, pidFile))
}

// A background process that keeps stdout open after the program exits
// must not hold up the run: its exit is judged once waitDelay passes.
func TestExecLingeringOutputAfterExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	res, err := runExecWith(t, t.Context(), Deps{ExecWaitDelay: 200 * time.Millisecond}, &ExecParams{
		Argv:        sh(`sleep 100 & echo $! > ` + pidFile + `; echo rev=7`),
		OutputSpecs: map[string]ExecOutput{"rev": {Regex: `rev=(\d+)`}},
	})
	pid := readPid(t, pidFile)
	syscall.Kill(pid, syscall.SIGKILL)
	if err != nil || res.Outputs["rev"] != "7" {
		t.Fatalf("Run() = %+v, %v", res, err)
	}
	if !strings.Contains(res.Evidence, "stopped reading output 200ms after exit: a background process kept it open") {
		t.Errorf("evidence:\n%s", res.Evidence)
	}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGone waits for pid to die. A killed orphan may linger as a zombie
// until its new parent reaps it, which counts as gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
				return
			}
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecEnvDirAndIdentity(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CAIRN_TEST_INHERITED", "inherited")
	res, err := runExec(t, t.Context(), &ExecParams{
		Argv: sh(`echo "foo=$FOO inh=$CAIRN_TEST_INHERITED step=$CAIRN_STEP_ID item=$CAIRN_ITEM token=$CAIRN_TOKEN attempt=$CAIRN_ATTEMPT"; pwd`),
		Env:  map[string]string{"FOO": "bar baz"},
		Dir:  dir,
		OutputSpecs: map[string]ExecOutput{
			"line": {Regex: `(foo=.*)`},
			"pwd":  {Regex: `(?m)^(/.*)$`},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "foo=bar baz inh=inherited step=s1 item=ns-a token=tok attempt=2"; res.Outputs["line"] != want {
		t.Errorf("line = %q, want %q", res.Outputs["line"], want)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	if got, _ := filepath.EvalSymlinks(res.Outputs["pwd"]); got != realDir {
		t.Errorf("pwd = %q, want %q", res.Outputs["pwd"], dir)
	}

	_, err = runExec(t, t.Context(), &ExecParams{Argv: sh("true"), Dir: filepath.Join(dir, "nope")})
	wantErr(t, err, true, "dir "+filepath.Join(dir, "nope")+": no such file or directory")
}

func TestExecStdinIsEmpty(t *testing.T) {
	// cat would block forever on an inherited terminal or pipe.
	res, err := runExec(t, t.Context(), &ExecParams{Argv: []string{"/bin/cat"}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Evidence, "--- stdout (empty) ---") {
		t.Errorf("evidence:\n%s", res.Evidence)
	}
}

func TestExecMissingProgram(t *testing.T) {
	_, err := runExec(t, t.Context(), &ExecParams{Argv: []string{"/nonexistent/istioctl", "version"}})
	wantErr(t, err, true, "argv[0] /nonexistent/istioctl: no such file or directory")
	if strings.Contains(err.Error(), "fork/exec") {
		t.Errorf("error repeats os/exec's prefix: %v", err)
	}

	_, err = runExec(t, t.Context(), &ExecParams{Argv: []string{"cairn-no-such-tool-xyz"}})
	wantErr(t, err, true, "argv[0] cairn-no-such-tool-xyz: executable file not found in $PATH")

	file := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(file, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runExec(t, t.Context(), &ExecParams{Argv: []string{file}})
	wantErr(t, err, true, "argv[0] "+file+": permission denied")
}

func TestExecArgvIsNotAShell(t *testing.T) {
	dir := t.TempDir()
	args := []string{"$(touch subst)", "; touch semi", "`touch tick`", "&& touch and", "*"}
	if _, err := runExec(t, t.Context(), &ExecParams{Argv: append([]string{"/bin/echo"}, args...), Dir: dir}); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("a shell ran: %s was created", e.Name())
	}
	// Each argument arrives as one literal string.
	res, err := runExec(t, t.Context(), &ExecParams{
		Argv:        append([]string{"/bin/sh", "-c", `for a in "$@"; do printf '[%s]' "$a"; done`, "sh"}, args...),
		OutputSpecs: map[string]ExecOutput{"args": {Regex: `^(.*)$`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[" + strings.Join(args, "][") + "]"; res.Outputs["args"] != want {
		t.Errorf("args = %q, want %q", res.Outputs["args"], want)
	}
}

// The run's tool environment (KUBECONFIG of the bound cluster) replaces the
// inherited value, and a step that sets the variable itself keeps its own.
func TestExecRunEnvOverridesInheritedAndStepEnvWins(t *testing.T) {
	t.Setenv("KUBECONFIG", "/home/user/.kube/config")
	ex, err := NewRegistry(Deps{}).Executor("exec")
	if err != nil {
		t.Fatal(err)
	}
	run := func(p *ExecParams) string {
		t.Helper()
		p.Argv = sh(`echo "kc=$KUBECONFIG"`)
		p.OutputSpecs = map[string]ExecOutput{"kc": {Regex: `kc=(.*)`}}
		if errs := p.Validate(); len(errs) > 0 {
			t.Fatal(errs)
		}
		res, err := ex.Run(t.Context(), Instance{StepID: "s", Token: "t", Params: p, Env: map[string]string{"KUBECONFIG": "/run/bound"}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Outputs["kc"]
	}
	if got := run(&ExecParams{}); got != "/run/bound" {
		t.Errorf("KUBECONFIG = %q, want the run's /run/bound", got)
	}
	if got := run(&ExecParams{Env: map[string]string{"KUBECONFIG": "/step/own"}}); got != "/step/own" {
		t.Errorf("KUBECONFIG = %q, want the step's own /step/own", got)
	}
}

// An exit code in retryOn is a failure the step's retry applies to; any
// other unexpected exit stays permanent.
func TestExecRetryOn(t *testing.T) {
	_, err := runExec(t, t.Context(), &ExecParams{Argv: sh("exit 3"), RetryOn: []int{3, 75}})
	wantErr(t, err, false, "exit code 3, expected one of [0]")
	_, err = runExec(t, t.Context(), &ExecParams{Argv: sh("exit 4"), RetryOn: []int{3, 75}})
	wantErr(t, err, true, "exit code 4, expected one of [0]")
	for _, c := range []struct {
		p    ExecParams
		want string
	}{
		{ExecParams{Argv: sh("true"), RetryOn: []int{0}}, "exit code 0 is expected"},
		{ExecParams{Argv: sh("true"), ExpectExitCodes: []int{0, 2}, RetryOn: []int{2}}, "exit code 2 is expected"},
		{ExecParams{Argv: sh("true"), RetryOn: []int{256}}, "out of range 1..255"},
	} {
		errs := c.p.Validate()
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Field, "retryOn.") || !strings.Contains(errs[0].Msg, c.want) {
			t.Errorf("Validate(retryOn %v): %v, want one retryOn error with %q", c.p.RetryOn, errs, c.want)
		}
	}
}
