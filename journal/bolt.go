package journal

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// How transactions get the bbolt file. Other processes only ever read it
// (a second writer is kept out by PATH.lock), so:
//   - a reader opens it for one transaction, under bbolt's shared lock;
//   - the writer keeps one handle, reads through it without locking (its own
//     commits are the only changes), and takes the exclusive lock only for
//     each commit, so no reader sees pages a commit reuses.

// pollEvery is how often a blocked transaction tries again.
const pollEvery = 5 * time.Millisecond

// wait calls try until it reports done or an error. Each time the wait has
// lasted another TxTimeout, it asks OnBlocked whether to go on; without
// OnBlocked it gives up with a *BlockedError.
func (db *DB) wait(write bool, try func() (bool, error)) error {
	start, next := time.Now(), db.txTimeout
	for {
		done, err := try()
		if err != nil || done {
			return err
		}
		if waited := time.Since(start); waited >= next {
			be := blockedError(db.path, write, waited)
			if db.onBlocked == nil || !db.onBlocked(be) {
				return be
			}
			next += db.txTimeout
		}
		time.Sleep(pollEvery)
	}
}

// openBolt opens the bbolt file, waiting (and reporting) while another
// process holds it.
func (db *DB) openBolt(readOnly bool, opts bolt.Options) (*bolt.DB, error) {
	var b *bolt.DB
	opts.ReadOnly, opts.Timeout = readOnly, 100*time.Millisecond
	err := db.wait(!readOnly, func() (bool, error) {
		var err error
		b, err = bolt.Open(db.path, 0o600, &opts)
		if errors.Is(err, berrors.ErrTimeout) {
			return false, nil
		}
		if err != nil {
			return false, openError(db.path, err)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	b.AllocSize = allocSize
	return b, nil
}

// handle is the writer's bbolt handle, opened on first use. bbolt takes
// the file's exclusive lock as it opens; it is let go at once.
func (db *DB) handle() (*bolt.DB, *os.File, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, nil, fmt.Errorf("journal %s is closed", db.path)
	}
	if db.bolt != nil {
		return db.bolt, db.file, nil
	}
	var f *os.File
	b, err := db.openBolt(false, bolt.Options{OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag&^os.O_CREATE, perm) // never make a new, empty journal here
		return f, err
	}})
	if err != nil {
		return nil, nil, err
	}
	if err := unlockFile(f); err != nil {
		b.Close()
		return nil, nil, err
	}
	db.bolt, db.file = b, f
	return b, f, nil
}

// dropHandle closes the writer's handle; the next transaction opens a new
// one. bbolt's Close waits for transactions in progress. Callers hold mu.
func (db *DB) dropHandle() error {
	if db.bolt == nil {
		return nil
	}
	err := db.bolt.Close()
	db.bolt, db.file = nil, nil
	return err
}

// withBolt opens the bbolt file for one use by a reader (or by Open before
// the writer's handle exists), runs fn and closes it again. A damaged file
// is reported as such, not as a panic.
func (db *DB) withBolt(write bool, fn func(*bolt.DB) error) error {
	return protect(func(p any) error {
		return &kindError{fmt.Sprintf("journal %s is not a cairn journal or is damaged (%v)", db.path, p), ErrNotJournal}
	}, func() (err error) {
		b, err := db.openBolt(db.readOnly || !write, bolt.Options{})
		if err != nil {
			return err
		}
		// Deferred, so that a panic in fn on a damaged file still releases
		// the handle and its lock.
		defer func() {
			if cerr := b.Close(); err == nil {
				err = cerr
			}
		}()
		return fn(b)
	})
}

// view runs fn in a read transaction. fn is told the file's schema: a
// read-only DB reads a v1 journal in place, and a writer may migrate it
// between two of the reader's transactions.
func (db *DB) view(fn func(tx *bolt.Tx, schema int) error) error {
	withSchema := func(tx *bolt.Tx) error {
		schema, err := db.schemaOf(tx)
		if err != nil {
			return err
		}
		return fn(tx, schema)
	}
	if db.readOnly {
		return db.withBolt(false, func(b *bolt.DB) error {
			return protect(db.damaged, func() error { return b.View(withSchema) })
		})
	}
	b, _, err := db.handle()
	if err != nil {
		return err
	}
	return db.guard(func() error { return b.View(withSchema) })
}

// update is the only write path: one bbolt Update, fsynced on commit,
// under the file's exclusive lock.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("journal %s is open read-only", db.path)
	}
	db.commit.Lock()
	defer db.commit.Unlock()
	b, f, err := db.handle()
	if err != nil {
		return err
	}
	if err := db.sameFile(f); err != nil {
		return err
	}
	if err := db.wait(true, func() (bool, error) { return tryLockFile(f) }); err != nil {
		return err
	}
	defer func() { _ = unlockFile(f) }()
	err = db.guard(func() error {
		return b.Update(func(tx *bolt.Tx) error {
			if schema, err := db.schemaOf(tx); err != nil || schema != SchemaVersion {
				return firstErr(err, &kindError{fmt.Sprintf("journal %s is not of schema %d any more", db.path, SchemaVersion), ErrNotJournal})
			}
			return fn(tx)
		})
	})
	return osError(db.path, "write", err)
}

// guard runs a transaction on the writer's handle. After a panic (a
// damaged file), the handle's state is not trusted: it is closed, and the
// next transaction opens a new one.
func (db *DB) guard(fn func() error) error {
	return protect(func(p any) error {
		db.mu.Lock()
		_ = db.dropHandle()
		db.mu.Unlock()
		return db.damaged(p)
	}, fn)
}

// sameFile refuses to write when the journal file was deleted or replaced
// (renamed over) since the handle was opened: the commit would go to a
// file nobody will read again. It looks at most once a second: on recent
// Linux, stat marks the file's ctime as seen, so the next commit also
// writes the inode, which made each commit 20% slower on ext4.
func (db *DB) sameFile(f *os.File) error {
	if time.Since(db.checked) < time.Second {
		return nil
	}
	gone, err := unlinked(f)
	if err != nil {
		return ioError(db.path, "write", err)
	}
	if gone {
		return &kindError{fmt.Sprintf("journal %s was deleted or replaced while this process was writing it; nothing more is written to it", db.path), ErrUnreadable}
	}
	db.checked = time.Now()
	return nil
}
