//go:build failpoint

package main

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cairn-dev/cairn/workflow"
)

// Built only with -tags failpoint, for the crash tests: CAIRN_KILL_AFTER=N
// makes the process SIGKILL itself right after the N-th journal commit;
// CAIRN_KILL_AT=TYPE:STEP right after the commit of the first event of that
// type for that step (e.g. instance.started:upgrade), whatever came before.
// CAIRN_KILL_BEFORE_MIRROR=N (steps/cluster) kills before the N-th write to
// the journal mirror, after the local commits it carries.
func withFailpoint(next func(workflow.Update)) func(workflow.Update) {
	n, _ := strconv.Atoi(os.Getenv("CAIRN_KILL_AFTER"))
	typ, step, at := strings.Cut(os.Getenv("CAIRN_KILL_AT"), ":")
	if n <= 0 && !at {
		return next
	}
	var count atomic.Int64
	return func(u workflow.Update) {
		next(u)
		if count.Add(1) == int64(n) || (at && u.Event.Type == typ && u.Event.Step == step) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
