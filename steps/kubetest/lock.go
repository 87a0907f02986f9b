package kubetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// outageLock keeps apiserver outages from hitting tests in other packages.
// `go test ./...` runs packages in parallel processes against one cluster,
// so every test holds a shared flock on the state directory from New until
// its end, and StopAPIServer takes it exclusively: it waits for the tests
// running in other processes to finish, and their next tests wait for the
// apiserver to be back. A second "gate" lock, held by a process that wants
// the exclusive lock, stops new tests from starving it.
//
// The lock is per process: parallel tests (t.Parallel) in the package that
// stops the apiserver are not protected from it.
type outageLock struct {
	mu         sync.Mutex
	main, gate *os.File
	readers    int  // tests in this process that hold the shared lock
	writer     bool // this process has the apiserver down
}

var outageLocks sync.Map // cluster dir -> *outageLock

const lockWait = 10 * time.Minute

func lockFor(dir string) *outageLock {
	l, _ := outageLocks.LoadOrStore(dir, &outageLock{})
	return l.(*outageLock)
}

func (l *outageLock) open(dir string) error {
	if l.main != nil {
		return nil
	}
	main, err := os.OpenFile(filepath.Join(dir, "outage.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	gate, err := os.OpenFile(filepath.Join(dir, "outage.gate"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		main.Close()
		return err
	}
	l.main, l.gate = main, gate
	return nil
}

// share registers a running test; cleanup unregisters it.
func (l *outageLock) share(t testing.TB, dir string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.open(dir); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if l.readers == 0 && !l.writer {
		// Passing through the gate waits behind any process about to stop
		// the apiserver.
		err := flockWait(l.gate, syscall.LOCK_EX)
		if err == nil {
			err = flockWait(l.main, syscall.LOCK_SH)
			_ = syscall.Flock(int(l.gate.Fd()), syscall.LOCK_UN)
		}
		if err != nil {
			t.Fatalf("kubetest: waiting for another package's apiserver outage to end: %v", err)
		}
	}
	l.readers++
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.readers--
		if l.readers == 0 && !l.writer {
			_ = syscall.Flock(int(l.main.Fd()), syscall.LOCK_UN)
		}
	})
}

// exclusive is taken before stopping the apiserver.
func (l *outageLock) exclusive(t testing.TB, dir string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writer {
		return
	}
	if err := l.open(dir); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	// Drop our shared lock before queueing at the gate: a process holding
	// the gate waits for every shared lock, including ours.
	_ = syscall.Flock(int(l.main.Fd()), syscall.LOCK_UN)
	err := flockWait(l.gate, syscall.LOCK_EX)
	if err == nil {
		if err = flockWait(l.main, syscall.LOCK_EX); err != nil {
			_ = syscall.Flock(int(l.gate.Fd()), syscall.LOCK_UN)
		}
	}
	if err != nil {
		t.Fatalf("kubetest: StopAPIServer: waiting for tests in other packages to finish: %v", err)
	}
	l.writer = true
}

// release is called once the apiserver is back.
func (l *outageLock) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.writer {
		return
	}
	l.writer = false
	how := syscall.LOCK_UN
	if l.readers > 0 {
		how = syscall.LOCK_SH
	}
	_ = syscall.Flock(int(l.main.Fd()), how)
	_ = syscall.Flock(int(l.gate.Fd()), syscall.LOCK_UN)
}

// flockWait polls a non-blocking flock so that the wait is bounded.
func flockWait(f *os.File, how int) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("flock %s: %w", f.Name(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("flock %s: still held by another process after %v", f.Name(), lockWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
