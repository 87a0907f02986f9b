package journal

import (
	"errors"
	"fmt"
)

// ErrLocked means another process holds the journal. Open returns a
// *LockedError, which names the holder when it can, and which errors.Is this.
var ErrLocked = errors.New("journal is in use by another process")

// ErrNewerSchema means the journal was written by a newer cairn. Refusing it
// is safer than misreading events whose meaning this build does not know.
var ErrNewerSchema = errors.New("journal was written by a newer schema")

// ErrNotJournal means the file is not a bbolt database, is damaged beyond
// opening, or is a bbolt database that belongs to something other than cairn.
var ErrNotJournal = errors.New("not a cairn journal")

// ErrUnreadable means the operating system refused the journal file
// (permission denied, a read-only file system, an I/O error) or a write to
// it (no space left, quota or file size limit): the journal cannot be
// used, whatever it holds.
var ErrUnreadable = errors.New("journal file cannot be read or written")

// ErrNoJournal means a read-only open found no file: nothing has been run
// against this journal path yet.
var ErrNoJournal = errors.New("no journal")

// ErrRunNotFound means the journal has no run with the requested id.
var ErrRunNotFound = errors.New("run not found")

// ErrRunExists means CreateRun was given an id the journal already holds.
var ErrRunExists = errors.New("run already exists")

// ErrTampered means stored bytes no longer match what was written: an event
// was altered, removed or reordered, or the file is damaged. *VerifyError
// errors.Is this.
var ErrTampered = errors.New("journal has been altered or damaged")

// ErrTooLarge means a run record, a playbook text or an event is larger
// than MaxRecordSize and was not written.
var ErrTooLarge = errors.New("too large for the journal")

// MaxRecordSize caps each thing the journal stores: a run record (without
// its playbook text), the playbook text, and each event as stored. Every
// transaction rewrites the pages its entries are on, and readers load a
// run whole; 4 MiB is far above any real playbook or step evidence.
const MaxRecordSize = 4 << 20

func tooLarge(what string, n int) error {
	return &kindError{fmt.Sprintf("%s is %d bytes; the journal stores at most %d (%d MiB)", what, n, MaxRecordSize, MaxRecordSize>>20), ErrTooLarge}
}

// kindError carries a complete, human-oriented message while still matching
// a sentinel with errors.Is; fmt.Errorf("...: %w") would append the
// sentinel's text to messages that are already complete sentences.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// runError wraps err from op on run id. A missing run is one sentence, not
// "run X: run not found".
func (db *DB) runError(op, id string, err error) error {
	if errors.Is(err, ErrRunNotFound) {
		return &kindError{fmt.Sprintf("journal %s has no run %s", db.path, id), ErrRunNotFound}
	}
	if op != "" {
		op += " "
	}
	return fmt.Errorf("journal %s: %srun %s: %w", db.path, op, id, err)
}
