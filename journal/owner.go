package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Owner is the read-write holder of a journal, as recorded in PATH.owner.
// bbolt's flock cannot say who holds it, so the holder writes this sidecar.
type Owner struct {
	PID     int       `json:"pid"`
	User    string    `json:"user"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// LockedError is returned by Open when another process holds the journal.
type LockedError struct {
	Path  string
	Owner *Owner // nil when the holder left no live record
}

func (e *LockedError) Error() string {
	const advice = "wait for it to finish, or use another journal file"
	if o := e.Owner; o != nil {
		return fmt.Sprintf("journal %s is in use by pid %d (%s@%s, `%s`, since %s); %s",
			e.Path, o.PID, o.User, o.Host, o.Command, o.Since.Format(time.RFC3339), advice)
	}
	return fmt.Sprintf("journal %s is in use by another process (it left no record of itself); %s",
		e.Path, advice)
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

func ownerPath(path string) string { return path + ".owner" }

func lockedError(path string) error {
	e := &LockedError{Path: path}
	o, err := readOwner(path)
	if err != nil {
		return e
	}
	// A record left by a killed process must not be blamed; we can only
	// check that on our own host.
	if host, _ := os.Hostname(); o.Host == host && !pidAlive(o.PID) {
		return e
	}
	e.Owner = o
	return e
}

func readOwner(path string) (*Owner, error) {
	b, err := os.ReadFile(ownerPath(path))
	if err != nil {
		return nil, err
	}
	var o Owner
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	if o.PID <= 0 {
		return nil, fmt.Errorf("owner record %s has no pid", ownerPath(path))
	}
	return &o, nil
}

// writeOwner replaces PATH.owner atomically, so a reader never sees half a
// record. Any existing record is stale: we hold the lock.
func writeOwner(path string) error {
	host, _ := os.Hostname()
	b, err := json.Marshal(Owner{
		PID:     os.Getpid(),
		User:    currentUser(),
		Host:    host,
		Command: commandLine(os.Args),
		Since:   time.Now().UTC().Truncate(time.Second),
	})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".owner.*")
	if err != nil {
		return err
	}
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), ownerPath(path))
	}
	if werr != nil {
		_ = os.Remove(f.Name())
	}
	return werr
}

func removeOwner(path string) { _ = os.Remove(ownerPath(path)) }

var subcommand = regexp.MustCompile(`^[a-z][a-z-]{0,15}$`)

// commandLine keeps only the program and subcommand: arguments may carry
// secrets (-p password=...), and the record outlives a killed process.
func commandLine(args []string) string {
	if len(args) == 0 {
		return "cairn"
	}
	s := filepath.Base(args[0])
	rest := args[1:]
	if len(rest) > 0 && subcommand.MatchString(rest[0]) {
		s += " " + rest[0]
		rest = rest[1:]
	}
	if len(rest) > 0 {
		s += " ..."
	}
	return s
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid " + strconv.Itoa(os.Getuid())
}
