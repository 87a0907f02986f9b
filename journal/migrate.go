package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Migrating a v1 journal. Only a writer migrates, holding the writer's lock,
// so two processes never migrate at once, and no run writes meanwhile. The
// v1 file is only read: the v2 file is written beside it, fsynced and
// checked, the v1 file is hard-linked as PATH.v1-backup, and the v2 file is
// renamed over PATH. A crash at any point leaves PATH a complete v1 or v2
// journal; a v1 one is migrated again by the next writer, and a stale
// PATH.migrating is discarded.
//
// Every record, event and head is copied byte for byte (events keep v:1),
// so the old hashes verify and a damaged run reports what it reported
// before. What v2 keys cannot hold (entries of a run's events bucket that
// are not events, or a missing events bucket) is written to the notes
// bucket as the problems v1's Verify reported for them.

// migrateBatch bounds the bytes one transaction of the new file holds.
const migrateBatch = 32 << 20

type migration struct {
	runs, events, skipped int
	backup                string
}

func (db *DB) migrate() error {
	real, err := filepath.EvalSymlinks(db.path)
	if err != nil {
		return fmt.Errorf("migrate journal %s: %w", db.path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("migrate journal %s: %w", db.path, err)
	}
	tmp := real + ".migrating"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("migrate journal %s: remove the leftover of an earlier attempt: %w", db.path, err)
	}
	m := &migration{}
	if m.backup, err = backupName(real); err != nil {
		return fmt.Errorf("migrate journal %s: %w", db.path, err)
	}
	err = protect(db.damaged, func() error { return m.write(real, tmp, fi.Mode().Perm()) })
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("migrate journal %s from schema 1 to %d (nothing was changed): %w", db.path, SchemaVersion, err)
	}
	if err := keepBackup(real, m.backup); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("migrate journal %s: keep the v1 file as %s (nothing was changed): %w", db.path, m.backup, err)
	}
	if err := os.Rename(tmp, real); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("migrate journal %s: replace it with the migrated file: %w", db.path, err)
	}
	if err := syncDir(filepath.Dir(real)); err != nil {
		return fmt.Errorf("migrate journal %s: %w", db.path, err)
	}
	msg := fmt.Sprintf("journal %s: migrated from schema 1 to %d (%d runs, %d events); the v1 file is kept as %s",
		db.path, SchemaVersion, m.runs, m.events, m.backup)
	if m.skipped > 0 {
		msg += fmt.Sprintf("; %d entries of its runs bucket were not runs and were left there", m.skipped)
	}
	db.notify(msg)
	return nil
}

// write copies the v1 file at src into a new v2 file at dst, fsynced, and
// checks the copy.
func (m *migration) write(src, dst string, perm os.FileMode) error {
	in, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: txTimeout})
	if err != nil {
		return err
	}
	defer in.Close()
	// One fsync at the end instead of one per batch: until the rename,
	// nobody reads this file.
	out, err := bolt.Open(dst, perm, &bolt.Options{NoSync: true})
	if err != nil {
		return err
	}
	out.AllocSize = allocSize
	defer out.Close()
	err = in.View(func(itx *bolt.Tx) error {
		if err := m.copy(itx, out); err != nil {
			return err
		}
		return out.View(func(otx *bolt.Tx) error { return compareMigrated(itx, otx) })
	})
	if err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return syncFile(dst)
}

func (m *migration) copy(itx *bolt.Tx, out *bolt.DB) error {
	otx, err := out.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = otx.Rollback() }()
	if err := initTx(otx); err != nil {
		return err
	}
	size := 0
	var runNo uint32
	if runs := itx.Bucket(bucketRuns); runs != nil {
		c := runs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v != nil {
				m.skipped++ // v1 ignored these too; the backup keeps them
				continue
			}
			if size > migrateBatch {
				if err := otx.Commit(); err != nil {
					return err
				}
				if otx, err = out.Begin(true); err != nil {
					return err
				}
				size = 0
			}
			runNo++
			n, err := m.copyRun(otx, k, runs.Bucket(k), runNo)
			if err != nil {
				return fmt.Errorf("run %q: %w", k, err)
			}
			size += n
		}
	}
	if err := otx.Bucket(bucketRuns).SetSequence(uint64(runNo)); err != nil {
		return err
	}
	note, _ := json.Marshal(struct {
		From int       `json:"from"`
		At   time.Time `json:"at"`
		Runs int       `json:"runs"`
		Kept string    `json:"kept"`
	}{1, time.Now().UTC().Truncate(time.Second), m.runs, filepath.Base(m.backup)})
	if err := otx.Bucket(bucketMeta).Put(keyMigrated, note); err != nil {
		return err
	}
	return otx.Commit()
}

func (m *migration) copyRun(otx *bolt.Tx, id []byte, rb *bolt.Bucket, runNo uint32) (int, error) {
	m.runs++
	events := otx.Bucket(bucketEvents)
	events.FillPercent = fillPercent
	otx.Bucket(bucketRuns).FillPercent = fillPercent
	rec, format := rb.Get(v1Run), byte(recordV1)
	if rec == nil {
		format = recordMissing
	}
	if err := otx.Bucket(bucketRuns).Put(id, encodeEntry(format, runNo, rec)); err != nil {
		return 0, err
	}
	size := len(rec)
	var notes []Problem
	if eb := rb.Bucket(v1Events); eb == nil {
		notes = append(notes, Problem{What: "events bucket missing"})
	} else {
		c := eb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil || len(k) != 8 || binary.BigEndian.Uint64(k) > maxSeq {
				notes = append(notes, Problem{What: fmt.Sprintf("unexpected entry %x among the events", k)})
				continue
			}
			if err := events.Put(eventKey(runNo, uint32(binary.BigEndian.Uint64(k))), verbatim(v)); err != nil {
				return 0, err
			}
			m.events++
			size += len(v)
		}
	}
	if h := rb.Get(v1Head); h != nil {
		if err := events.Put(eventKey(runNo, headSeq), verbatim(h)); err != nil {
			return 0, err
		}
	}
	if len(notes) > 0 {
		nb, err := otx.CreateBucketIfNotExists(bucketNotes)
		if err != nil {
			return 0, err
		}
		b, _ := json.Marshal(notes)
		if err := nb.Put(runNoKey(runNo), b); err != nil {
			return 0, err
		}
	}
	return size, nil
}

func verbatim(v []byte) []byte { return append([]byte{formatV1}, v...) }

// compareMigrated checks, before the v2 file replaces the v1 one, that
// every run's record, events and head arrived byte for byte, and nothing
// else did.
func compareMigrated(itx, otx *bolt.Tx) error {
	runs, oruns := itx.Bucket(bucketRuns), otx.Bucket(bucketRuns)
	copied := 0
	if runs != nil {
		if err := runs.ForEachBucket(func(k []byte) error {
			copied++
			rb := runs.Bucket(k)
			ent, err := decodeEntry(oruns.Get(k))
			if err != nil || !bytes.Equal(ent.rec, rb.Get(v1Run)) {
				return fmt.Errorf("run %q: the record was not copied intact", k)
			}
			want := 0
			if eb := rb.Bucket(v1Events); eb != nil {
				if err := eb.ForEach(func(ek, v []byte) error {
					if v == nil || len(ek) != 8 || binary.BigEndian.Uint64(ek) > maxSeq {
						return nil
					}
					want++
					got := otx.Bucket(bucketEvents).Get(eventKey(ent.runNo, uint32(binary.BigEndian.Uint64(ek))))
					if !bytes.Equal(got, verbatim(v)) {
						return fmt.Errorf("run %q: event %x was not copied intact", k, ek)
					}
					return nil
				}); err != nil {
					return err
				}
			}
			got := 0
			if err := runEvents(otx, ent.runNo, func([]byte, uint64, []byte) error { got++; return nil }); err != nil {
				return err
			}
			headV, _, _, _ := lastStored(otx, ent.runNo)
			if h := rb.Get(v1Head); got != want || (h == nil) != (headV == nil) || h != nil && !bytes.Equal(headV, verbatim(h)) {
				return fmt.Errorf("run %q: %d of %d events, or its head, copied", k, got, want)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if n := oruns.Stats().KeyN; n != copied {
		return fmt.Errorf("%d runs copied, %d in the new file", copied, n)
	}
	return nil
}

// backupName is where the v1 file will be kept: PATH.v1-backup, unless
// that name holds something else, which is never overwritten.
func backupName(real string) (string, error) {
	for i := 1; i < 100; i++ {
		name := real + ".v1-backup"
		if i > 1 {
			name += "." + strconv.Itoa(i)
		}
		fi, err := os.Stat(name)
		if errors.Is(err, os.ErrNotExist) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
		// A link to the file itself is what an interrupted migration left.
		if cur, err := os.Stat(real); err == nil && os.SameFile(fi, cur) {
			return name, nil
		}
	}
	return "", fmt.Errorf("%s.v1-backup through .99 all exist", real)
}

// keepBackup makes backup a second name of the v1 file, or a copy of it
// where hard links are not supported.
func keepBackup(real, backup string) error {
	if fi, err := os.Stat(backup); err == nil {
		if cur, err := os.Stat(real); err == nil && os.SameFile(fi, cur) {
			return syncDir(filepath.Dir(backup))
		}
	}
	if err := os.Link(real, backup); err != nil {
		if err := copyFile(real, backup); err != nil {
			_ = os.Remove(backup)
			return err
		}
	}
	return syncDir(filepath.Dir(backup))
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
