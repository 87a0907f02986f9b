//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// syncBuffer is a log that the test may read while the process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startStandin runs `fakebins istiod-standin` against env's cluster until
// the test ends, and returns its log.
func startStandin(t *testing.T, env *kubetest.Env) *syncBuffer {
	t.Helper()
	state := filepath.Join(t.TempDir(), "standin.json")
	logBuf := &syncBuffer{}
	x := exec.Command(filepath.Join(binDir, "fakebins"), "istiod-standin", "--kubeconfig", env.Kubeconfig,
		"--network", env.Network(t), "--state", state, "--exit-with-parent")
	x.Stdout, x.Stderr = logBuf, logBuf
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- x.Wait() }()
	t.Cleanup(func() {
		_ = x.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = x.Process.Kill()
			t.Errorf("istiod-standin did not exit on SIGTERM")
		}
		t.Logf("istiod-standin log:\n%s", logBuf.String())
	})
	deadline := time.Now().Add(45 * time.Second)
	for {
		b, err := os.ReadFile(state)
		var st standinState
		if err == nil && json.Unmarshal(b, &st) == nil && st.PID == x.Process.Pid {
			return logBuf
		}
		select {
		case err := <-exited:
			t.Fatalf("istiod-standin exited before ready: %v\n%s", err, logBuf.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("istiod-standin not ready after 45s:\n%s", logBuf.String())
		}
	}
}

// realRun runs the real istioctl with KUBECONFIG pointing at the test's
// cluster and an empty HOME (no ~/.istioctl/config.yaml of the developer's).
func realRun(t *testing.T, istioctl, kubeconfig string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	x := exec.CommandContext(ctx, istioctl, args...)
	x.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+t.TempDir())
	x.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	x.Stdout, x.Stderr = &stdout, &stderr
	err := x.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running istioctl %v: %v", args, err)
	}
	t.Logf("$ istioctl %s\n%s", strings.Join(args, " "), r)
	return r
}
