// Package journal is cairn's durable record of runs.
//
// Every state change is one fsynced bbolt transaction that appends an event
// to its run. A run's state is whatever replaying its events yields; the
// journal keeps no second copy of it. Events are chained by hash, and each
// run carries a head anchor (last seq and hash) written in the same
// transaction as each event, so Verify notices an altered, removed or
// truncated event, including the last one. layout.go describes the file.
//
// The chain is tamper-evident, not tamper-proof: there is no secret key, so
// someone who rewrites every later hash and the anchor too is not caught.
package journal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the newest journal layout and event encoding this build
// writes and understands.
const SchemaVersion = 2

// Options controls Open.
type Options struct {
	Timeout  time.Duration // writers: wait for the writer's lock; 0 means 1s
	ReadOnly bool          // for runs/show/verify/export: never waits for a run

	// TxTimeout is how long a transaction waits for the journal file while
	// another process holds it mid-transaction; 0 means 10s. That is
	// normally a moment (a reader's read, a writer's commit); longer means
	// the holder is stuck, e.g. a `cairn show` suspended with Ctrl-Z. The
	// transaction then fails with a *BlockedError naming the holder, unless
	// OnBlocked is set.
	TxTimeout time.Duration

	// OnBlocked, if set, is called each time a transaction has waited
	// another TxTimeout, with what it is waiting for; the transaction goes
	// on waiting while it returns true. A long run should warn and wait
	// rather than fail a step because someone suspended a reader. It runs
	// inside the waiting call, so it must not use the DB.
	OnBlocked func(*BlockedError) bool

	// Notify is told what the user should know that is not an error: the
	// journal was migrated to this schema (and where the old file is kept),
	// or an empty file was initialised. The journal never prints; nil drops
	// these messages.
	Notify func(msg string)
}

// DB is an open journal. Its methods are safe for concurrent use.
//
// A reader opens the bbolt file for each transaction only, holding its
// shared lock for that long. A writer holds PATH.lock for as long as its DB
// is open, so two writers exclude each other; it keeps its bbolt handle
// (opening one costs more than a commit: unmapping the file interrupts
// every CPU) but holds the file's exclusive lock only while it commits. So
// `cairn show` reads a running run's journal between two of its commits,
// and a run never waits for readers longer than their one transaction.
type DB struct {
	path      string
	readOnly  bool
	lock      *os.File // writers: flocked PATH.lock
	ownsOwner bool     // we wrote PATH.owner and must remove it
	notify    func(string)
	txTimeout time.Duration
	onBlocked func(*BlockedError) bool

	mu      sync.Mutex // guards bolt and file
	commit  sync.Mutex // one commit at a time: the file lock is per handle
	bolt    *bolt.DB   // the writer's handle; nil until needed, and after Close
	file    *os.File   // the file bbolt opened for it, locked around commits
	checked time.Time  // when the file was last seen to have a name; under commit
	closed  bool

	closeOnce sync.Once
	closeErr  error
}

// defaultTxTimeout bounds a transaction's wait for another process that
// holds the journal file (see Options.TxTimeout).
const defaultTxTimeout = 10 * time.Second

// txTimeout bounds the wait for bbolt's own lock in opens that do not
// report a blocked wait: migration, creating a journal.
const txTimeout = defaultTxTimeout

// allocSize is how much bbolt grows the file by once it is past this size
// (its default, 16 MiB, would leave a journal of 20 MiB at 36). Each growth
// costs one more fsync, once per MiB written.
const allocSize = 1 << 20

// errLockTimeout is lockWriter's "another process holds it".
var errLockTimeout = errors.New("writer lock timeout")

// DefaultPath is $XDG_STATE_HOME/cairn/journal.db, falling back to
// ~/.local/state/cairn/journal.db.
func DefaultPath() (string, error) {
	// The XDG spec says relative values are invalid and must be ignored.
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "cairn", "journal.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate the default journal (no home directory; set XDG_STATE_HOME, or name the journal file): %w", err)
	}
	return filepath.Join(home, ".local", "state", "cairn", "journal.db"), nil
}

// NewRunID returns an id like 20261122-022400-1f47c9. The time prefix makes
// ids sort chronologically, which Runs relies on. The suffix's first three
// hex digits are the millisecond (000-3e7), so runs started in the same
// second still list newest first; the last three are random, and CreateRun
// refuses the rare same-millisecond collision with ErrRunExists.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	now = now.UTC()
	ms := now.Nanosecond() / int(time.Millisecond)
	return fmt.Sprintf("%s-%03x%03x", now.Format("20060102-150405"), ms, int(b[0])<<4|int(b[1])>>4)
}

// Close releases the lock. The holder record goes first, while the lock is
// still ours, so we can never delete the record of the next holder.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		db.closeErr = db.dropHandle()
		db.mu.Unlock()
		if db.ownsOwner {
			removeOwner(db.path)
		}
		if db.lock != nil {
			db.closeErr = firstErr(db.closeErr, db.lock.Close())
		}
	})
	return db.closeErr
}

// Path is the journal file, as given to Open.
func (db *DB) Path() string { return db.path }

// protect runs fn, turning a panic or memory fault into an error. bbolt
// trusts the page structure of the file and may panic (or fault, on a
// truncated mmap) when it is damaged; cairn must report that, not crash.
func protect(onPanic func(p any) error, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = onPanic(p)
		}
	}()
	return fn()
}

func (db *DB) damaged(p any) error {
	return &kindError{fmt.Sprintf("journal %s is damaged (%v)", db.path, p), ErrTampered}
}
