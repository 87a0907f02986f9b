package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Open opens or creates the journal at path. A journal held by another
// process fails after opts.Timeout with a *LockedError instead of waiting.
//
// A writer migrates a v1 journal to this schema first (see migrate.go). A
// read-only DB reads a v1 journal as it is: runs, show, verify and export
// never change the file.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	db := &DB{path: path, readOnly: opts.ReadOnly, notify: opts.Notify, txTimeout: opts.TxTimeout, onBlocked: opts.OnBlocked}
	if db.notify == nil {
		db.notify = func(string) {}
	}
	if db.txTimeout <= 0 {
		db.txTimeout = defaultTxTimeout
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, &kindError{fmt.Sprintf("journal %s is a directory, not a cairn journal", path), ErrNotJournal}
	case err == nil && fi.Size() > 0 && fi.Size() < minFileSize:
		return nil, &kindError{fmt.Sprintf("journal %s is %d bytes, too short to be a bbolt database: it is truncated or not a journal", path, fi.Size()), ErrNotJournal}
	case !opts.ReadOnly:
	case errors.Is(err, fs.ErrNotExist):
		return nil, &kindError{fmt.Sprintf("no journal at %s: nothing has been run with it yet", path), ErrNoJournal}
	case err != nil:
		return nil, ioError(path, "open", err)
	case fi.Size() == 0:
		// bbolt would try to initialise it, which a read-only handle cannot.
		return nil, &kindError{fmt.Sprintf("journal %s is empty: nothing has been recorded in it", path), ErrNoJournal}
	}
	if !opts.ReadOnly {
		if err := db.lockAndCreate(timeout); err != nil {
			return nil, err
		}
	}
	if err := db.checkSchema(); err != nil {
		if db.lock != nil {
			_ = db.lock.Close()
		}
		return nil, err
	}
	if !opts.ReadOnly {
		if _, _, err := db.handle(); err != nil {
			_ = db.lock.Close()
			return nil, err
		}
		// The holder record only improves the message another process sees;
		// failing to write it must not stop a run.
		db.ownsOwner = writeOwner(path) == nil
	}
	return db, nil
}

// checkSchema refuses files that are not cairn journals or are too new,
// initialises an empty database and migrates a v1 journal (writers only).
// Empty is allowed because that is what a crash between bbolt creating the
// file and our first Update leaves behind.
func (db *DB) checkSchema() error {
	var schema int
	err := db.withBolt(false, func(b *bolt.DB) error {
		return b.View(func(tx *bolt.Tx) error {
			var err error
			schema, err = db.schemaOf(tx)
			return err
		})
	})
	switch {
	case err != nil || db.readOnly || schema == SchemaVersion:
		return err
	case schema == 1:
		return db.migrate()
	}
	return db.withBolt(true, func(b *bolt.DB) error { return b.Update(initTx) })
}

// schemaOf is the file's schema: 0 for an empty bbolt database.
func (db *DB) schemaOf(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if k, _ := tx.Cursor().First(); k != nil {
			return 0, &kindError{fmt.Sprintf("journal %s is a bbolt database that does not belong to cairn", db.path), ErrNotJournal}
		}
		return 0, nil
	}
	raw := meta.Get(keySchema)
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, &kindError{fmt.Sprintf("journal %s has no valid schema version (%q)", db.path, raw), ErrNotJournal}
	}
	if v > SchemaVersion {
		return 0, &kindError{fmt.Sprintf("journal %s was written by schema %d; this cairn understands up to %d; upgrade cairn", db.path, v, SchemaVersion), ErrNewerSchema}
	}
	return v, nil
}

// initTx makes an empty bbolt database a journal of this schema.
func initTx(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
		return err
	}
	for _, name := range [][]byte{bucketRuns, bucketEvents} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// minFileSize is the smallest bbolt file: its two meta pages.
const minFileSize = 2 * 4096

// lockAndCreate takes the writer's lock, then creates the journal if there
// is none, or if it is empty.
func (db *DB) lockAndCreate(timeout time.Duration) error {
	path := db.path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return ioError(filepath.Dir(path), "create the journal's directory", err)
	}
	lock, err := lockWriter(path+".lock", timeout)
	if errors.Is(err, errLockTimeout) {
		return lockedError(path)
	}
	if err != nil {
		return ioError(path+".lock", "lock the journal", err)
	}
	db.lock = lock
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = createJournal(path)
	case err != nil:
		err = ioError(path, "open", err)
	case fi.Size() == 0:
		// A crash between creating the file and writing its first pages
		// leaves it empty (cairn before schema 2 created journals in place).
		// It held nothing, and we hold the writer's lock: nobody else is
		// about to write it.
		if err = createJournal(path); err == nil {
			db.notify(fmt.Sprintf("journal %s was an empty file, which a crash while creating it leaves behind; it is now a new, empty journal", path))
		}
	}
	if err != nil {
		_ = lock.Close()
		db.lock = nil
	}
	return err
}

// createJournal writes a new journal beside path and renames it into
// place, so that a crash never leaves a half-made journal at path.
func createJournal(path string) error {
	tmp := path + ".creating"
	_ = os.Remove(tmp) // a crashed earlier attempt's; we hold the lock
	b, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: txTimeout})
	if err != nil {
		return ioError(tmp, "create the journal", err)
	}
	err = b.Update(initTx)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return ioError(path, "create the journal", err)
	}
	return nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return blockedError(path, true, txTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		strings.Contains(err.Error(), "file size too small"):
		return &kindError{fmt.Sprintf("journal %s is not a bbolt database, or is damaged (%v)", path, err), ErrNotJournal}
	}
	return ioError(path, "open", err)
}

// osError is ioError for errors that may not come from the system at all:
// those are returned unchanged.
func osError(path, op string, err error) error {
	if err == nil {
		return nil
	}
	if ke := ioError(path, op, err); errors.Is(ke, ErrUnreadable) {
		return ke
	}
	return err
}

// ioError types what the operating system refused: permissions, a full
// disk or quota, a file size limit, a read-only file system or an I/O
// error make the journal unusable, whatever its content. Other errors are
// returned wrapped.
func ioError(path, op string, err error) error {
	var why string
	for _, c := range []struct {
		errno syscall.Errno
		why   string
	}{
		{syscall.EACCES, "permission denied"},
		{syscall.EPERM, "operation not permitted"},
		{syscall.ENOSPC, "no space left on the device"},
		{syscall.EDQUOT, "disk quota exceeded"},
		{syscall.EFBIG, "file size limit exceeded"},
		{syscall.EROFS, "read-only file system"},
		{syscall.EIO, "I/O error"},
	} {
		// bbolt flattens some errors to text ("file resize error: %s").
		if errors.Is(err, c.errno) || strings.Contains(err.Error(), c.errno.Error()) {
			why = c.why
			break
		}
	}
	if why == "" {
		return fmt.Errorf("journal %s: %s: %w", path, op, err)
	}
	return &kindError{fmt.Sprintf("journal %s: %s: %s (%v)", path, op, why, err), ErrUnreadable}
}
