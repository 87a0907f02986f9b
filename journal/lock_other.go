//go:build !unix

package journal

import (
	"errors"
	"os"
	"time"
)

func lockWriter(string, time.Duration) (*os.File, error) {
	return nil, errors.New("cairn journals need flock(2): use Linux or macOS")
}

func tryLockFile(*os.File) (bool, error) { return false, errors.New("cairn journals need flock(2)") }

func unlockFile(*os.File) error { return nil }

func unlinked(*os.File) (bool, error) { return false, nil }

// WriterActive cannot tell without flock(2); it says yes, so that a
// follower waits rather than stopping early.
func WriterActive(string) bool { return true }
