//go:build unix

package journal

import (
	"errors"
	"syscall"
)

// pidAlive reports whether a process exists; EPERM means it does but
// belongs to someone else.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
