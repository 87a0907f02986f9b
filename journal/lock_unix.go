//go:build unix

package journal

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockWriter takes the writer's lock, PATH.lock, polling until timeout as
// bbolt does for its own flock. It returns errLockTimeout when another
// process holds it. The file is never removed: unlinking a lock file lets
// two processes lock two different inodes.
func lockWriter(path string, timeout time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errLockTimeout
			}
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tryLockFile takes the exclusive lock of the bbolt file (bbolt's own
// flock, which readers take shared) without waiting.
func tryLockFile(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// unlinked reports whether the open file no longer has a name.
func unlinked(f *os.File) (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	return st.Nlink == 0, nil
}

// WriterActive tells whether a process holds the journal at path for
// writing (a run, resume, approve or rollback in progress), without
// disturbing it: a shared lock tried and dropped at once, which a writer
// taking the lock just then waits out.
func WriterActive(path string) bool {
	f, err := os.Open(path + ".lock")
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
