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
