//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// kubeRun drives the real binary against the local test cluster, with its
// own journal and, unless a test says otherwise, its own lock namespace, so
// that tests cannot see each other's locks.
type kubeRun struct {
	t       *testing.T
	env     *kubetest.Env
	ns      string // the test's namespace; also the lock namespace
	journal string
	dir     string
}

func newKubeRun(t *testing.T) *kubeRun {
	env := kubetest.New(t)
	dir := t.TempDir()
	return &kubeRun{t: t, env: env, ns: env.Namespace(t, nil), journal: filepath.Join(dir, "journal.db"), dir: dir}
}

// playbook writes a playbook into the test's directory.
func (k *kubeRun) playbook(name, text string) string {
	k.t.Helper()
	path := filepath.Join(k.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		k.t.Fatal(err)
	}
	return path
}

func (k *kubeRun) command(journal string, args ...string) *exec.Cmd {
	full := append([]string{"--log-format", "json", "--journal", journal}, args...)
	cmd := exec.Command(cairnBin, full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.env.Kubeconfig)
	return cmd
}

// withLock adds the test's lock namespace to the commands that take it.
func (k *kubeRun) withLock(args []string) []string {
	switch args[0] {
	case "run", "resume", "rollback":
		return append(args, "--lock-namespace", k.ns)
	}
	return args
}

// cairn runs the binary to its end with the test's journal.
func (k *kubeRun) cairn(args ...string) cliResult {
	k.t.Helper()
	return k.cairnJournal(k.journal, k.withLock(args)...)
}

func (k *kubeRun) cairnJournal(journal string, args ...string) cliResult {
	k.t.Helper()
	cmd := k.command(journal, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return cliResult{exitOf(k.t, err), out.String(), errb.String()}
}

func exitOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("running cairn: %v", err)
	return -1
}

// proc is a cairn process running in the background, whose JSON log lines
// the test can wait for.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr bytes.Buffer
	lines  []map[string]any
	more   chan struct{} // signalled on each log line
	done   chan struct{}
	err    error
}

func (k *kubeRun) start(args ...string) *proc {
	k.t.Helper()
	return k.startJournal(k.journal, k.withLock(args)...)
}

func (k *kubeRun) startJournal(journal string, args ...string) *proc {
	k.t.Helper()
	return startProc(k.t, k.command(journal, args...))
}

// startProc starts cmd, a cairn command, in the background; the test's
// cleanup kills it if it is still running.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	})
	go p.read(pipe)
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		p.mu.Lock()
		p.stderr.Write(sc.Bytes())
		p.stderr.WriteByte('\n')
		if m != nil {
			p.lines = append(p.lines, m)
		}
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
	}
	p.err = p.cmd.Wait()
	close(p.done)
}

// waitStarted waits until the process journals the start of step.
func (p *proc) waitStarted(step string) {
	p.t.Helper()
	p.waitLog(fmt.Sprintf("instance.started step=%s", step), func(m map[string]any) bool {
		return m["message"] == "instance.started" && m["step"] == step
	})
}

func (p *proc) waitLog(what string, match func(map[string]any) bool) {
	p.t.Helper()
	deadline := time.After(3 * time.Minute)
	for seen := 0; ; {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, m := range lines {
			if match(m) {
				return
			}
		}
		select {
		case <-p.more:
		case <-p.done:
			p.t.Fatalf("cairn ended (%v) before logging %s:\n%s", p.err, what, p.stderrText())
		case <-deadline:
			p.t.Fatalf("cairn did not log %s within 3 minutes:\n%s", what, p.stderrText())
		}
	}
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits for the process to end and returns its exit code.
func (p *proc) wait() cliResult {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Minute):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		p.t.Fatalf("cairn did not end within 5 minutes:\n%s", p.stderrText())
	}
	return cliResult{exitOf(p.t, p.err), p.stdout.String(), p.stderrText()}
}

var runIDPattern = regexp.MustCompile(`(?m)^run (\d{8}-\d{6}-[0-9a-f]+) `)

// runIDOf reads the run id from what run, resume or rollback printed.
func runIDOf(t *testing.T, r cliResult) string {
	t.Helper()
	m := runIDPattern.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no run id in the output:\n%s", r.stdout)
	}
	return m[1]
}

// lastRun is the newest run id in a journal.
func (k *kubeRun) lastRun(journal string) string {
	k.t.Helper()
	r := k.cairnJournal(journal, "runs", "-q")
	if r.code != 0 {
		k.t.Fatalf("runs: %d %s", r.code, r.stderr)
	}
	id, _, _ := strings.Cut(r.stdout, "\n")
	return id
}

// events returns a run's journal events, through `cairn show -o json`.
func (k *kubeRun) events(journal, run string) []struct {
	Type     string `json:"type"`
	Evidence string `json:"evidence"`
	Error    string `json:"error"`
	User     string `json:"user"`
} {
	k.t.Helper()
	r := k.cairnJournal(journal, "show", run, "-o", "json")
	if r.code != 0 {
		k.t.Fatalf("show: %d %s", r.code, r.stderr)
	}
	var v struct {
		Events []struct {
			Type     string `json:"type"`
			Evidence string `json:"evidence"`
			Error    string `json:"error"`
			User     string `json:"user"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		k.t.Fatalf("show -o json: %v\n%s", err, r.stdout)
	}
	return v.Events
}

func (k *kubeRun) nsLabel(key string) string {
	k.t.Helper()
	ns, err := k.env.Clientset.CoreV1().Namespaces().Get(context.Background(), k.ns, metav1.GetOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	return ns.Labels[key]
}

func want(t *testing.T, r cliResult, code int, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(r.stdout+r.stderr, p) {
			t.Fatalf("output lacks %q\nstdout:\n%s\nstderr:\n%s", p, r.stdout, r.stderr)
		}
	}
}
