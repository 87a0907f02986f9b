package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestHelperProcess is not a test: the lock tests re-run the test binary
// with CAIRN_JOURNAL_HELPER set to get a second, real process.
func TestHelperProcess(t *testing.T) {
	mode, path := os.Getenv("CAIRN_JOURNAL_HELPER"), os.Getenv("CAIRN_JOURNAL_PATH")
	switch mode {
	case "":
		return
	case "open", "open-ro":
		start := time.Now()
		db, err := Open(path, Options{ReadOnly: mode == "open-ro"})
		fmt.Printf("locked=%v elapsed=%s err=%v\n", errors.Is(err, ErrLocked), time.Since(start), err)
		if db != nil {
			db.Close()
		}
	case "runs":
		db, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		runs, err := db.Runs(0)
		fmt.Printf("runs=%d err=%v\n", len(runs), err)
		db.Close()
	case "stall-read":
		db, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		db.view(func(*bolt.Tx, int) error {
			fmt.Println("in-tx")
			time.Sleep(time.Minute) // until the parent kills us
			return nil
		})
	case "open-typed":
		for _, ro := range []bool{true, false} {
			db, err := Open(path, Options{ReadOnly: ro})
			fmt.Printf("ro=%v unreadable=%v err=%v\n", ro, errors.Is(err, ErrUnreadable), err)
			if db != nil {
				db.Close()
			}
		}
	case "fill":
		helperFill(path)
	case "migrate":
		helperMigrate(path)
	case "hold":
		if _, err := Open(path, Options{}); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		time.Sleep(time.Minute) // until the parent kills us
	}
	os.Exit(0)
}

func helper(ctx context.Context, mode, path string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "CAIRN_JOURNAL_HELPER="+mode, "CAIRN_JOURNAL_PATH="+path)
	return cmd
}

func TestLockedFileNamesHolder(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	defer db.Close()
	for _, mode := range []string{"open"} {
		t.Run(mode, func(t *testing.T) {
			// If Open hung, the context kills the helper and the test fails.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			out, err := helper(ctx, mode, path).CombinedOutput()
			wall := time.Since(start)
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			s := string(out)
			for _, want := range []string{"locked=true", fmt.Sprintf("is in use by pid %d (", os.Getpid()), "`journal.test ...`", "or use another journal file"} {
				if !strings.Contains(s, want) {
					t.Errorf("helper output lacks %q:\n%s", want, s)
				}
			}
			m := regexp.MustCompile(`elapsed=(\S+)`).FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("no elapsed in %q", s)
			}
			el, _ := time.ParseDuration(m[1])
			if el < 500*time.Millisecond {
				t.Errorf("Open gave up after %v, before the 1s default timeout", el)
			}
			t.Logf("helper gave up after %v (process wall time %v): %s", el, wall, strings.TrimSpace(s))
		})
	}
}

// Readers never wait for a run: while a writer holds the journal (between
// its commits), another process lists its runs at once, and the writer's
// next commit is not held up by the reader.
func TestReadersDoNotWaitForAWriter(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	defer db.Close()
	writeRun(t, db, "r1", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := helper(ctx, "runs", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "runs=1 err=<nil>") {
		t.Fatalf("reader while a writer holds the journal: %v\n%s", err, out)
	}
	ro := mustOpen(t, path, Options{ReadOnly: true})
	defer ro.Close()
	writeRun(t, db, "r2", 2) // the reader's DB is open, yet the writer commits
	if runs, err := ro.Runs(0); err != nil || len(runs) != 2 {
		t.Fatalf("reader after the writer's commit: %d runs, %v", len(runs), err)
	}
	if err := ro.CreateRun(sampleRun("r3")); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("CreateRun through a read-only DB: %v", err)
	}
}

// A holder killed with SIGKILL leaves its record behind: the next open must
// still succeed, and a later lock conflict must not blame the dead pid.
func TestLockHolderKilled(t *testing.T) {
	path := testPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := helper(ctx, "hold", path)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		cmd.Process.Kill()
		t.Fatalf("helper said %q", line)
	}
	child := cmd.Process.Pid

	_, err := Open(path, Options{Timeout: 300 * time.Millisecond})
	var le *LockedError
	if !errors.As(err, &le) || le.Owner == nil || le.Owner.PID != child || !strings.Contains(err.Error(), "pid "+strconv.Itoa(child)) {
		t.Fatalf("open while child holds: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	stale, err := os.ReadFile(ownerPath(path))
	if err != nil {
		t.Fatalf("killed holder left no record: %v", err)
	}

	db := mustOpen(t, path, Options{})
	if o, err := readOwner(path); err != nil || o.PID != os.Getpid() {
		t.Errorf("owner after reopen: %+v %v", o, err)
	}
	// We hold the lock but the record names the dead child. (A second
	// Open in this process conflicts too: flock locks an open file
	// description, not a process.)
	os.WriteFile(ownerPath(path), stale, 0o600)
	_, err = Open(path, Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || errors.As(err, &le) && le.Owner != nil || strings.Contains(err.Error(), strconv.Itoa(child)) {
		t.Errorf("stale record blamed: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ownerPath(path)); !os.IsNotExist(err) {
		t.Errorf("owner record survives Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOwnerRecord(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	b, err := os.ReadFile(ownerPath(path))
	if err != nil {
		t.Fatal(err)
	}
	var o Owner
	if err := json.Unmarshal(b, &o); err != nil || o.PID != os.Getpid() || o.User == "" || o.Host == "" || o.Command == "" || time.Since(o.Since) > time.Minute {
		t.Errorf("owner record %s (%v)", b, err)
	}
	db.Close()
	ro1 := mustOpen(t, path, Options{ReadOnly: true})
	ro2 := mustOpen(t, path, Options{ReadOnly: true}) // shared lock
	if _, err := os.Stat(ownerPath(path)); !os.IsNotExist(err) {
		t.Errorf("read-only open wrote an owner record")
	}
	if err := ro1.CreateRun(sampleRun("r")); err == nil {
		t.Error("CreateRun on a read-only journal succeeded")
	}
	ro1.Close()
	ro2.Close()
}

func TestNewerSchemaRefused(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	writeRun(t, db, "r1", 1)
	db.Close()
	rawBolt(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion+1)))
	})
	before, _ := os.ReadFile(path)
	for _, ro := range []bool{false, true} {
		_, err := Open(path, Options{ReadOnly: ro})
		want := fmt.Sprintf("journal %s was written by schema %d; this cairn understands up to %d; upgrade cairn", path, SchemaVersion+1, SchemaVersion)
		if !errors.Is(err, ErrNewerSchema) || err.Error() != want {
			t.Errorf("ReadOnly=%v: %v", ro, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("refused journal was modified")
	}
	if _, err := os.Stat(ownerPath(path)); !os.IsNotExist(err) {
		t.Error("refused open left an owner record")
	}
}

func TestNotAJournal(t *testing.T) {
	noise := make([]byte, 64<<10)
	rand.New(rand.NewSource(7)).Read(noise)
	cases := map[string]func(t *testing.T, path string){
		"random bytes": func(t *testing.T, p string) { os.WriteFile(p, noise, 0o600) },
		"short text":   func(t *testing.T, p string) { os.WriteFile(p, []byte("hello\n"), 0o600) },
		"foreign bbolt": func(t *testing.T, p string) {
			rawBolt(t, p, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
		},
		"meta without schema": func(t *testing.T, p string) {
			rawBolt(t, p, func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketMeta); return err })
		},
		"directory": func(t *testing.T, p string) { os.Mkdir(p, 0o700) },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.db")
			mk(t, path)
			before, _ := os.ReadFile(path)
			for _, ro := range []bool{false, true} {
				db, err := Open(path, Options{ReadOnly: ro})
				if !errors.Is(err, ErrNotJournal) || !strings.Contains(err.Error(), path) {
					t.Errorf("ReadOnly=%v: %v", ro, err)
				}
				if db != nil {
					db.Close()
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("file was modified")
			}
			if _, err := os.Stat(ownerPath(path)); !os.IsNotExist(err) {
				t.Error("owner record left behind")
			}
		})
	}
}

// An empty bbolt database is what a crash between bbolt creating the file and
// our first Update leaves, so it is accepted as a journal with no runs.
func TestEmptyBoltIsFreshJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	ro := mustOpen(t, path, Options{ReadOnly: true})
	if runs, err := ro.Runs(0); err != nil || len(runs) != 0 {
		t.Errorf("Runs on empty: %v %v", runs, err)
	}
	if _, err := ro.Run("x"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("Run on empty: %v", err)
	}
	ro.Close()
	db := mustOpen(t, path, Options{})
	writeRun(t, db, "r1", 1)
	db.Close()
	rawBolt(t, path, func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(keySchema)); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema %q after init", v)
		}
		return nil
	})
}

func TestReadOnlyMissingOrEmpty(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "sub", "journal.db")
	if _, err := Open(missing, Options{ReadOnly: true}); !errors.Is(err, ErrNoJournal) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Error("read-only open created the directory")
	}
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	if _, err := Open(empty, Options{ReadOnly: true}); !errors.Is(err, ErrNoJournal) {
		t.Errorf("empty file: %v", err)
	}
	db := mustOpen(t, empty, Options{}) // writable: becomes a journal
	writeRun(t, db, "r1", 1)
	db.Close()
}
