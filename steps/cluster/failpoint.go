//go:build failpoint

package cluster

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// Built only with -tags failpoint, for the crash tests:
// CAIRN_KILL_BEFORE_MIRROR=N makes the process SIGKILL itself just before
// its N-th write to a journal mirror, after the local commits that write
// would carry: the crash between the local journal and the cluster.
var (
	killBeforeMirror = sync.OnceValue(func() int64 {
		n, _ := strconv.ParseInt(os.Getenv("CAIRN_KILL_BEFORE_MIRROR"), 10, 64)
		return n
	})
	mirrorWrites atomic.Int64
)

func beforeMirrorWrite() {
	if n := killBeforeMirror(); n > 0 && mirrorWrites.Add(1) == n {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
