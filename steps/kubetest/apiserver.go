package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apiserver names the component's files in the state directory.
const apiserver = "kube-apiserver"

// controllers are the apiserver's clients inside the cluster.
var controllers = []string{"kube-controller-manager", "kube-scheduler", "kwok"}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL) and returns once
// the process is gone. If the test ends with it still stopped, a cleanup
// starts it again so later tests get a working cluster.
//
// The apiserver is shared by every package's tests, which `go test` runs in
// parallel processes: StopAPIServer first waits for the tests currently
// running elsewhere to finish, and tests starting elsewhere wait until
// StartAPIServer (see outageLock). Env.Proxy simulates losing the network
// for one test's clients without any of that waiting.
func (e *Env) StopAPIServer(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	wasUp := !e.apiserverDown
	e.apiserverDown = true
	e.mu.Unlock()
	if wasUp {
		t.Cleanup(func() {
			e.mu.Lock()
			down := e.apiserverDown
			e.mu.Unlock()
			if down {
				e.StartAPIServer(t)
			}
		})
	}
	lockFor(e.ClusterDir).exclusive(t, e.ClusterDir)
	if err := e.stopComponent(apiserver); err != nil {
		t.Fatalf("kubetest: StopAPIServer: %v", err)
	}
}

// StartAPIServer starts kube-apiserver with the command line up.sh used,
// records its PID where down.sh will find it, and waits for /readyz.
//
// It then restarts the controller-manager, scheduler and kwok. Their
// client-go reflectors back off exponentially (up to 30s, doubled by jitter,
// reset only after two quiet minutes) on every list or watch that failed
// during the outage: after a few restarts the ReplicaSet controller was seen
// idle for over a minute. Fresh processes resync at once.
func (e *Env) StartAPIServer(t testing.TB) {
	t.Helper()
	defer lockFor(e.ClusterDir).release()
	exited, err := e.startComponent(apiserver)
	if err != nil {
		t.Fatalf("kubetest: StartAPIServer: %v", err)
	}
	e.mu.Lock()
	e.apiserverDown = false
	e.mu.Unlock()
	logPath := e.logPath(apiserver)
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		rc, cancelReq := context.WithTimeout(c, 2*time.Second)
		body, err := e.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rc)
		cancelReq()
		if err == nil && bytes.Equal(bytes.TrimSpace(body), []byte("ok")) {
			break
		}
		select {
		case <-exited:
			t.Fatalf("kubetest: StartAPIServer: kube-apiserver exited during startup; see %s:\n%s", logPath, tail(logPath, 20))
		case <-c.Done():
			t.Fatalf("kubetest: StartAPIServer: not ready after 90s (last error: %v); see %s:\n%s", err, logPath, tail(logPath, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, name := range controllers {
		if err := e.stopComponent(name); err != nil {
			t.Fatalf("kubetest: StartAPIServer: restarting %s: %v", name, err)
		}
		if name == "kwok" {
			e.releaseNodeLeases(t)
		}
		if _, err := e.startComponent(name); err != nil {
			t.Fatalf("kubetest: StartAPIServer: restarting %s: %v", name, err)
		}
	}
}

// releaseNodeLeases deletes the fake nodes' Leases. kwok takes a new random
// holder identity at every start and only plays the pods of nodes whose
// Lease it holds, so a restarted kwok would otherwise leave pods pending
// until the old Leases expire (40s).
func (e *Env) releaseNodeLeases(t testing.TB) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.Clientset.CoordinationV1().Leases("kube-node-lease").DeleteCollection(c, metav1.DeleteOptions{}, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("kubetest: StartAPIServer: releasing node leases for kwok: %v", err)
	}
}

// RestartAPIServer stops kube-apiserver, keeps it down for the given
// duration (a stand-in for losing the network to the control plane), and
// starts it again, returning once it is ready.
func (e *Env) RestartAPIServer(t testing.TB, down time.Duration) {
	t.Helper()
	e.StopAPIServer(t)
	time.Sleep(down)
	e.StartAPIServer(t)
}

func (e *Env) pidFile(name string) string { return filepath.Join(e.ClusterDir, "pids", name+".pid") }
func (e *Env) logPath(name string) string { return filepath.Join(e.ClusterDir, "logs", name+".log") }

// stopComponent stops the named process if it is running.
func (e *Env) stopComponent(name string) error {
	pid, err := e.componentPID(name)
	if err != nil || !processAlive(pid) {
		return nil // already gone: the PID file names a dead or foreign process
	}
	return stopProcess(pid, 20*time.Second)
}

// startComponent starts the named process from args/NAME.args, appending to
// its log, and records its PID where down.sh will find it. The returned
// channel is closed when the process exits.
func (e *Env) startComponent(name string) (<-chan struct{}, error) {
	if pid, err := e.componentPID(name); err == nil && processAlive(pid) {
		return nil, fmt.Errorf("%s is already running (pid %d)", name, pid)
	}
	raw, err := os.ReadFile(filepath.Join(e.ClusterDir, "args", name+".args"))
	if err != nil {
		return nil, err
	}
	args := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	logf, err := os.OpenFile(e.logPath(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Reap the child when it exits, otherwise it lingers as a zombie. It is
	// meant to outlive this test binary; down.sh stops it by the PID file.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := writeFileAtomic(e.pidFile(name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n")); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	return exited, nil
}

// componentPID reads a PID file and checks that the PID really runs the
// named binary, so a recycled PID is never signalled.
func (e *Env) componentPID(name string) (int, error) {
	raw, err := os.ReadFile(e.pidFile(name))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("%s: %v", e.pidFile(name), err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, fmt.Errorf("%s (pid %d) is not running", name, pid)
	}
	if arg0, _, _ := bytes.Cut(cmdline, []byte{0}); filepath.Base(string(arg0)) != name {
		return 0, fmt.Errorf("pid %d from %s is %q, not %s", pid, e.pidFile(name), arg0, name)
	}
	return pid, nil
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if state, ok := strings.CutPrefix(line, "State:"); ok {
			return !strings.HasPrefix(strings.TrimSpace(state), "Z")
		}
	}
	return true
}

func stopProcess(pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM %d: %v", pid, err)
	}
	if waitGone(pid, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d survived SIGKILL", pid)
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
