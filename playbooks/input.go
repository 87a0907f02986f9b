package playbooks

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// MaxInputSize caps what cairn reads whole from a file the operator names:
// a playbook, a params file, a parameter's value. Real ones are a few KiB;
// the cap keeps /dev/zero or a runaway generator from filling memory.
const MaxInputSize = 4 << 20

// ErrInputTooLarge is a file over MaxInputSize.
var ErrInputTooLarge = errors.New("larger than the 4 MiB cairn reads")

// ReadInput reads the file at path whole, up to MaxInputSize. A pipe such
// as <(generate-playbook) is read as it is written; a named pipe that no
// one writes to reads as empty at once instead of blocking forever (it is
// opened non-blocking, so the open does not wait for a writer).
func ReadInput(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxInputSize+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if len(b) > MaxInputSize {
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrInputTooLarge}
	}
	return b, nil
}
