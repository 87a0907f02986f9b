package journal

import "errors"

// ErrLocked means another process holds the journal. Open returns a
// *LockedError, which names the holder when it can, and which errors.Is this.
var ErrLocked = errors.New("journal is in use by another process")

// ErrNewerSchema means the journal was written by a newer cairn. Refusing it
// is safer than misreading events whose meaning this build does not know.
var ErrNewerSchema = errors.New("journal was written by a newer schema")

// ErrNotJournal means the file is not a bbolt database, is damaged beyond
// opening, or is a bbolt database that belongs to something other than cairn.
var ErrNotJournal = errors.New("not a cairn journal")

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

// kindError carries a complete, human-oriented message while still matching
// a sentinel with errors.Is; fmt.Errorf("...: %w") would append the
// sentinel's text to messages that are already complete sentences.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
