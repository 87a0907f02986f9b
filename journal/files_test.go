package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A journal the operating system will not let us read is ErrUnreadable,
// for readers and writers alike, whatever the file holds (D13).
func TestPermissionDenied(t *testing.T) {
	dir := t.TempDir()
	// Root's helper below runs as nobody, who must reach the directory.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777) // and write there: the lock file is not what is refused
	path := filepath.Join(dir, "journal.db")
	db := mustOpen(t, path, Options{})
	writeRun(t, db, "r1", 1)
	db.Close()
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + ".lock") // the helper makes its own: the journal is what refuses
	var out []byte
	if os.Getuid() != 0 {
		cmd := helper(context.Background(), "open-typed", path)
		var err error
		if out, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	} else {
		// Root reads anything: the helper runs as nobody, from a copy of
		// the test binary that nobody may execute.
		bin := filepath.Join(dir, "journal.test")
		copyExecutable(t, os.Args[0], bin)
		cmd := exec.Command(bin, "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), "CAIRN_JOURNAL_HELPER=open-typed", "CAIRN_JOURNAL_PATH="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var err error
		if out, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	t.Logf("%s", out)
	for _, want := range []string{"ro=true unreadable=true", "ro=false unreadable=true", "permission denied"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func copyExecutable(t *testing.T, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// Files too short to be a bbolt database are ErrNotJournal, not an
// untyped error (bbolt says "file size too small" for 4096..8191 bytes).
func TestShortFiles(t *testing.T) {
	for _, n := range []int{1, 100, 4095, 4096, 5000, 8191} {
		for _, ro := range []bool{false, true} {
			path := filepath.Join(t.TempDir(), "journal.db")
			b := bytes.Repeat([]byte{0x5a}, n)
			os.WriteFile(path, b, 0o600)
			_, err := Open(path, Options{ReadOnly: ro})
			if !errors.Is(err, ErrNotJournal) || !strings.Contains(err.Error(), path) {
				t.Errorf("%d bytes, ReadOnly=%v: %v", n, ro, err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
				t.Errorf("%d bytes: file changed", n)
			}
		}
	}
}

// An empty file is what a crash while creating a journal left (before
// journals were created beside their name and renamed into place). A writer
// holding the lock makes it a journal and says so; a reader does not touch
// it. New journals appear whole or not at all.
func TestEmptyFileReinitialised(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	os.WriteFile(path, nil, 0o600)
	if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, ErrNoJournal) {
		t.Fatalf("reader: %v", err)
	}
	var notes []string
	db := mustOpen(t, path, Options{Notify: func(m string) { notes = append(notes, m) }})
	defer db.Close()
	if len(notes) != 1 || !strings.Contains(notes[0], "was an empty file") || !strings.Contains(notes[0], path) {
		t.Errorf("notices %q", notes)
	}
	writeRun(t, db, "r1", 1)
	if _, err := os.Stat(path + ".creating"); !os.IsNotExist(err) {
		t.Error("temporary file left behind")
	}
}

// A write the system refuses (no space, a quota, a file size limit) is
// ErrUnreadable, and the journal is left as it was before that commit.
// The limit is real: a child process runs under RLIMIT_FSIZE.
func TestDiskFull(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	want := writeRun(t, db, "r1", 2)
	db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := helper(ctx, "fill", path).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "unreadable=true") || !strings.Contains(s, "file size limit exceeded") {
		t.Fatalf("helper:\n%s", s)
	}
	ro := mustOpen(t, path, Options{ReadOnly: true})
	defer ro.Close()
	if err := ro.Verify("r1"); err != nil {
		t.Fatalf("after the refused write: %v", err)
	}
	got, _ := ro.Events("r1")
	if len(got) < len(want) {
		t.Fatalf("events lost: %d", len(got))
	}
	t.Logf("helper: %s; %d events kept", strings.TrimSpace(s), len(got))
}

func helperFill(path string) {
	signal.Ignore(syscall.SIGXFSZ)
	fi, err := os.Stat(path)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	lim := uint64(fi.Size()) + 256<<10
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl)
	rl.Cur = lim
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		fmt.Println("error:", err)
		return
	}
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Printf("open: unreadable=%v err=%v\n", errors.Is(err, ErrUnreadable), err)
		return
	}
	defer db.Close()
	big := strings.Repeat("evidence ", 20000)
	for i := 0; i < 100; i++ {
		if _, err := db.Append("r1", Event{Type: "x", Evidence: big}); err != nil {
			fmt.Printf("append %d: unreadable=%v err=%v\n", i, errors.Is(err, ErrUnreadable), err)
			return
		}
	}
	fmt.Println("no error")
}

// A journal deleted under a running writer: commits fail, within a second,
// rather than go on into a file nobody will read.
func TestJournalDeletedWhileWriting(t *testing.T) {
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	defer db.Close()
	writeRun(t, db, "r1", 1)
	os.Remove(path)
	time.Sleep(1100 * time.Millisecond)
	if _, err := db.Append("r1", Event{Type: "x"}); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "deleted or replaced") {
		t.Fatalf("Append after the file was deleted: %v", err)
	}
}
