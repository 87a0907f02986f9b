// Package journal is cairn's durable record of runs.
//
// Every state change is one fsynced bbolt transaction that appends an event
// to its run. A run's state is whatever replaying its events yields; the
// journal keeps no second copy of it. Events are chained by hash, and each
// run carries a head anchor (last seq and hash) written in the same
// transaction as each event, so Verify notices an altered, removed or
// truncated event, including the last one.
//
// The chain is tamper-evident, not tamper-proof: there is no secret key, so
// someone who rewrites every later hash and the anchor too is not caught.
package journal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the newest journal layout and event encoding this build
// writes and understands.
const SchemaVersion = 1

// Options controls Open.
type Options struct {
	Timeout  time.Duration // writers: wait for the writer's lock; 0 means 1s
	ReadOnly bool          // for runs/show/verify/export: never waits for a run
}

// DB is an open journal. Its methods are safe for concurrent use.
//
// bbolt's own flock lasts as long as its handle, so a run holding the file
// open would shut every reader out for hours. Instead the bbolt file is
// opened for each transaction only, and a writer holds PATH.lock for as long
// as its DB is open: two writers still exclude each other, while `cairn
// show` reads a running run's journal between two of its commits.
type DB struct {
	path      string
	readOnly  bool
	lock      *os.File // writers: flocked PATH.lock
	ownsOwner bool     // we wrote PATH.owner and must remove it

	mu        sync.Mutex // one bbolt handle at a time per process
	closeOnce sync.Once
	closeErr  error
}

// txTimeout bounds the wait for bbolt's own flock, which other processes
// hold only for one transaction (a reader's, or a writer's fsync).
const txTimeout = 10 * time.Second

// errLockTimeout is lockWriter's "another process holds it".
var errLockTimeout = errors.New("writer lock timeout")

var (
	bucketMeta   = []byte("meta")
	bucketRuns   = []byte("runs")
	bucketEvents = []byte("events")
	keySchema    = []byte("schema")
	keyRun       = []byte("run")
	keyHead      = []byte("head")
)

// DefaultPath is $XDG_STATE_HOME/cairn/journal.db, falling back to
// ~/.local/state/cairn/journal.db.
func DefaultPath() (string, error) {
	// The XDG spec says relative values are invalid and must be ignored.
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "cairn", "journal.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate default journal (set XDG_STATE_HOME or pass --journal): %w", err)
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

// Open opens or creates the journal at path. A journal held by another
// process fails after opts.Timeout with a *LockedError instead of waiting.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	if opts.ReadOnly {
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, &kindError{fmt.Sprintf("no journal at %s: nothing has been run with it yet", path), ErrNoJournal}
		case err != nil:
			return nil, fmt.Errorf("open journal: %w", err)
		case fi.Size() == 0:
			// bbolt would try to initialise it, which a read-only handle cannot.
			return nil, &kindError{fmt.Sprintf("journal %s is empty: nothing has been recorded in it", path), ErrNoJournal}
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create journal directory: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, &kindError{fmt.Sprintf("journal %s is a directory, not a cairn journal", path), ErrNotJournal}
	}

	db := &DB{path: path, readOnly: opts.ReadOnly}
	if !opts.ReadOnly {
		lock, err := lockWriter(path+".lock", timeout)
		if errors.Is(err, errLockTimeout) {
			return nil, lockedError(path)
		}
		if err != nil {
			return nil, fmt.Errorf("lock journal %s: %w", path, err)
		}
		db.lock = lock
	}
	if err := db.withBolt(true, db.checkSchema); err != nil {
		if db.lock != nil {
			_ = db.lock.Close()
		}
		return nil, err
	}
	if !opts.ReadOnly {
		// The holder record only improves the message another process sees;
		// failing to write it must not stop a run.
		db.ownsOwner = writeOwner(path) == nil
	}
	return db, nil
}

// withBolt opens the bbolt file, runs fn and closes it again. A damaged
// file is reported as such, not as a panic.
func (db *DB) withBolt(write bool, fn func(*bolt.DB) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return protect(func(p any) error {
		return &kindError{fmt.Sprintf("journal %s is not a cairn journal or is damaged (%v)", db.path, p), ErrNotJournal}
	}, func() (err error) {
		b, err := bolt.Open(db.path, 0o600, &bolt.Options{Timeout: txTimeout, ReadOnly: db.readOnly || !write})
		if err != nil {
			return openError(db.path, err)
		}
		// Deferred, so that a panic in fn on a damaged file still releases
		// the handle and its flock.
		defer func() {
			if cerr := b.Close(); err == nil {
				err = cerr
			}
		}()
		return fn(b)
	})
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return lockedError(path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return &kindError{fmt.Sprintf("journal %s is not a bbolt database, or is damaged (%v)", path, err), ErrNotJournal}
	}
	return fmt.Errorf("open journal %s: %w", path, err)
}

// checkSchema refuses files that are not cairn journals or are too new, and
// initialises an empty database. Empty is allowed because that is what a
// crash between bbolt creating the file and our first Update leaves behind.
func (db *DB) checkSchema(b *bolt.DB) error {
	fresh := false
	err := b.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			k, _ := tx.Cursor().First()
			if k != nil {
				return &kindError{fmt.Sprintf("journal %s is a bbolt database that does not belong to cairn", db.path), ErrNotJournal}
			}
			fresh = true
			return nil
		}
		raw := meta.Get(keySchema)
		v, err := strconv.Atoi(string(raw))
		if err != nil || v < 1 {
			return &kindError{fmt.Sprintf("journal %s has no valid schema version (%q)", db.path, raw), ErrNotJournal}
		}
		if v > SchemaVersion {
			return &kindError{fmt.Sprintf("journal %s was written by schema %d; this cairn understands up to %d; upgrade cairn", db.path, v, SchemaVersion), ErrNewerSchema}
		}
		return nil
	})
	if err != nil || !fresh || db.readOnly {
		return err
	}
	return b.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketRuns)
		return err
	})
}

// Close releases the lock. The holder record goes first, while the lock is
// still ours, so we can never delete the record of the next holder.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.ownsOwner {
			removeOwner(db.path)
		}
		if db.lock != nil {
			db.closeErr = db.lock.Close()
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
	return &kindError{fmt.Sprintf("journal %s is damaged (%v); run `cairn verify`", db.path, p), ErrTampered}
}

func (db *DB) view(fn func(*bolt.Tx) error) error {
	return db.withBolt(false, func(b *bolt.DB) error {
		return protect(db.damaged, func() error { return b.View(fn) })
	})
}

// update is the only write path: one bbolt Update, fsynced on commit.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("journal %s is open read-only", db.path)
	}
	return db.withBolt(true, func(b *bolt.DB) error {
		return protect(db.damaged, func() error { return b.Update(fn) })
	})
}
