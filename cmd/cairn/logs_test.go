package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logsPlaybook prints its secrets split across writes (one holds a
// newline), then in "slow" waits for the test to create RELEASE between
// two lines; "flaky" times out on its first attempt and succeeds on its
// second.
const logsPlaybook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: logs}
params:
  token: {type: string, secret: true}
  multi: {type: string, secret: true}
  dir: {type: string, required: true}
steps:
  - id: slow
    exec:
      argv: [sh, -c, 'printf "tok=%s" "$(echo "$T" | cut -c1-4)"; sleep 0.1; printf "%s\n" "$(echo "$T" | cut -c5-)"; printf "m=%s" "$M"; echo; echo "line 1"; i=0; while [ ! -e "$D/RELEASE" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo "line 2" >&2']
      env: {T: '${params.token}', M: '${params.multi}', D: '${params.dir}'}
  - id: flaky
    exec:
      argv: [sh, -c, 'echo "flaky attempt $CAIRN_ATTEMPT"; if [ "$CAIRN_ATTEMPT" = 1 ]; then sleep 5; fi; echo "flaky done"']
      timeout: 1s
    retry: {attempts: 2, initialBackoff: 10ms}
`

const (
	logsToken = "hunter2-topsecret"
	logsMulti = "multi\nline-secret"
)

// A second process follows a step's output while the step runs, sees a
// line before the step ends, and stops when the step does; afterwards
// logs shows every attempt; no secret reaches the files, the streamed log
// lines or logs' output.
func TestLogsFollowAndAfterwards(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "logs.yaml")
	if err := os.WriteFile(play, []byte(logsPlaybook), 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(cairnBin, "--log-format", "json", "--journal", j, "run", play,
		"-p", "token="+logsToken, "-p", "multi="+logsMulti, "-p", "dir="+dir)
	var runErr strings.Builder
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	runID := ""
	for deadline := time.Now().Add(30 * time.Second); runID == "" && time.Now().Before(deadline); {
		runID = strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
		time.Sleep(20 * time.Millisecond)
	}
	if runID == "" {
		t.Fatal("the run never appeared in the journal")
	}

	follow := exec.Command(cairnBin, "--log-format", "json", "--journal", j, "logs", runID[:15], "slow", "-f")
	pipe, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var followErr strings.Builder
	follow.Stderr = &followErr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follow.Process.Kill(); follow.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	// The step is blocked until RELEASE exists: "line 1" can only come
	// through while it runs.
	for l := range lines {
		seen = append(seen, l)
		if l == "line 1" {
			break
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "RELEASE")); err == nil || len(seen) == 0 || seen[len(seen)-1] != "line 1" {
		t.Fatalf("follow saw %q", seen)
	}
	if err := os.WriteFile(filepath.Join(dir, "RELEASE"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		seen = append(seen, l)
	}
	if err := follow.Wait(); err != nil {
		t.Fatalf("logs -f: %v\n%s", err, followErr.String())
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, runErr.String())
	}
	want := "==> slow attempt 1 (running, or stopped before it finished) <==\ntok=<redacted>\nm=<redacted>\nline 1\nline 2"
	if got := strings.Join(seen, "\n"); got != want {
		t.Errorf("logs -f printed\n%s\nwant\n%s", got, want)
	}

	r := cairn(t, j, "logs", runID)
	wantAll := "==> slow attempt 1 (succeeded) <==\ntok=<redacted>\nm=<redacted>\nline 1\nline 2\n" +
		"==> flaky attempt 1 (failed) <==\nflaky attempt 1\n" +
		"==> flaky attempt 2 (succeeded) <==\nflaky attempt 2\nflaky done\n"
	if r.code != ExitOK || r.stdout != wantAll || r.stderr != "" {
		t.Errorf("logs: exit %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, wantAll, r.stderr)
	}
	r = cairn(t, j, "logs", runID, "flaky", "--attempt", "2", "--timestamps")
	if !regexp.MustCompile(`(?m)^==> flaky attempt 2 \(succeeded\) <==\n\d{4}-\d\d-\d\dT[0-9:.]+Z stdout flaky attempt 2\n.*Z stdout flaky done\n$`).MatchString(r.stdout) {
		t.Errorf("logs --attempt 2 --timestamps:\n%s%s", r.stdout, r.stderr)
	}

	// The streamed log lines carry the run, step and stream.
	if !regexp.MustCompile(`\{"level":"info","run":"` + runID + `","step":"slow","stream":"stderr",("time":"[^"]+",)?"message":"line 2"\}`).MatchString(runErr.String()) {
		t.Errorf("run's log lacks the streamed line:\n%s", runErr.String())
	}
	files, _ := filepath.Glob(filepath.Join(j+".d", "logs", runID, "*.log"))
	if len(files) != 3 {
		t.Errorf("output files %q", files)
	}
	everything := runErr.String() + followErr.String() + r.stdout + r.stderr
	for _, f := range files {
		b, _ := os.ReadFile(f)
		everything += string(b)
	}
	for _, secret := range []string{logsToken, "hunter2", "topsecret", logsMulti, "line-secret"} {
		if strings.Contains(everything, secret) {
			t.Errorf("secret %q leaked", secret)
		}
	}

	// A file changed after the run is still shown, with a warning.
	flaky := filepath.Join(j+".d", "logs", runID, "flaky.1.log")
	f, err := os.OpenFile(flaky, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "2026-01-01T00:00:00.000Z stdout forged\n")
	f.Close()
	r = cairn(t, j, "logs", runID, "flaky")
	if r.code != ExitOK || !strings.Contains(r.stdout, "forged") || !strings.Contains(r.stderr, "does not match the journal") ||
		!strings.Contains(r.stderr, `"attempt":1`) || strings.Count(r.stderr, "does not match") != 1 {
		t.Errorf("tampered file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestLogsErrors(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	r := cairn(t, j, "run", "demo", "-p", "workdir="+filepath.Join(dir, "demo"), "-p", "pace=0s")
	if r.code != ExitOK {
		t.Fatalf("demo: %d %s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"logs"}, ExitUsage, "logs expects RUN"},
		{[]string{"logs", "@latest", "nosuch"}, ExitUsage, "has no step nosuch"},
		{[]string{"logs", "@latest", "canary-ok"}, ExitUsage, "kept no output of canary-ok"},
		{[]string{"logs", "@latest", "install", "--attempt", "0"}, ExitUsage, "attempts count from 1"},
		{[]string{"logs", "@latest", "move-rest[app"}, ExitUsage, "write STEP or STEP[ITEM]"},
		{[]string{"logs", "nosuchrun"}, ExitJournal, "has no run nosuchrun"},
	} {
		r := cairn(t, j, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%q: exit %d, want %d with %q\n%s", tc.args, r.code, tc.code, tc.msg, r.stderr)
		}
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q", "--limit", "1").stdout)
	// The reference resolved: the run's id, not @latest, to copy.
	if r := cairn(t, j, "approve", "@latest", "canary-ok"); r.code != ExitOK || !strings.Contains(r.stdout, "of run "+id) || !strings.Contains(r.stdout, "cairn resume "+id) {
		t.Fatalf("approve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cairn(t, j, "resume"); r.code != ExitOK {
		t.Fatalf("resume: %s", r.stderr)
	}
	r = cairn(t, j, "logs", "@latest", "move-rest")
	if r.code != ExitOK || strings.Count(r.stdout, "==> move-rest[") < 2 {
		t.Errorf("a foreach step's items: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
