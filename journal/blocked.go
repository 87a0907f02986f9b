package journal

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// BlockedError means a transaction gave up waiting for the journal file
// because another process holds it mid-transaction. That is normally a
// moment; for longer, the holder is stuck: suspended (Ctrl-Z, SIGSTOP, a
// debugger) or hung. It errors.Is ErrLocked.
type BlockedError struct {
	Path    string
	Write   bool          // a commit was waiting; otherwise a read
	Waited  time.Duration // so far
	Holders []Holder      // empty where the system cannot tell who holds it
}

// Holder is a process holding the journal file's lock, from /proc/locks.
type Holder struct {
	PID     int
	Command string // program and subcommand, from /proc/PID/cmdline
	Stopped bool   // suspended by a signal or a debugger
	Self    bool   // this process, through another open journal
}

func (e *BlockedError) Error() string {
	what := "read"
	if e.Write {
		what = "write to"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "journal %s: waited %s to %s the journal file, which ", e.Path, e.Waited.Round(time.Second), what)
	if len(e.Holders) == 0 {
		b.WriteString("another process holds mid-transaction (this system cannot tell which); find it with fuser or lsof and continue or end it")
		return b.String()
	}
	var stopped []string
	for i, h := range e.Holders {
		if i == 0 {
			b.WriteString("pid ")
		} else {
			b.WriteString(", pid ")
		}
		fmt.Fprintf(&b, "%d (%s", h.PID, h.Command)
		switch {
		case h.Self:
			b.WriteString(", this process")
		case h.Stopped:
			b.WriteString(", stopped")
			stopped = append(stopped, strconv.Itoa(h.PID))
		}
		b.WriteString(")")
	}
	b.WriteString(" holds mid-transaction")
	if len(stopped) > 0 {
		p := strings.Join(stopped, " ")
		fmt.Fprintf(&b, "; continue it (kill -CONT %s) or end it (kill %s)", p, p)
	} else {
		b.WriteString("; it should let go within a moment: if not, end it")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *BlockedError) Is(target error) bool { return target == ErrLocked }

func blockedError(path string, write bool, waited time.Duration) *BlockedError {
	e := &BlockedError{Path: path, Write: write, Waited: waited}
	fi, err := os.Stat(path)
	if err != nil {
		return e
	}
	for _, pid := range lockHolders(fi) {
		h := Holder{PID: pid, Self: pid == os.Getpid(), Command: "?"}
		if args := processArgs(pid); len(args) > 0 {
			h.Command = commandLine(args)
		}
		h.Stopped = processStopped(pid)
		e.Holders = append(e.Holders, h)
	}
	return e
}
