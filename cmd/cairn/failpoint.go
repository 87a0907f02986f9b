//go:build failpoint

package main

import (
	"os"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/cairn-dev/cairn/workflow"
)

// Built only with -tags failpoint, for the crash tests: CAIRN_KILL_AFTER=N
// makes the process SIGKILL itself right after the N-th journal commit.
func withFailpoint(next func(workflow.Update)) func(workflow.Update) {
	n, err := strconv.Atoi(os.Getenv("CAIRN_KILL_AFTER"))
	if err != nil || n <= 0 {
		return next
	}
	var count atomic.Int64
	return func(u workflow.Update) {
		next(u)
		if count.Add(1) == int64(n) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
