package journal

import (
	"errors"
	"regexp"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The library's errors name files, runs and processes, never the CLI's
// commands or flags: the CLI adds its own hints (and exit codes) from the
// sentinels.
func TestErrorsNameNoCLI(t *testing.T) {
	cli := regexp.MustCompile("`cairn|cairn (verify|journal|run|resume|show)|--[a-z]")
	path := testPath(t)
	db := mustOpen(t, path, Options{})
	writeRun(t, db, "r1", 3)
	var errs []error
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	errs = append(errs, err)
	db.Close()
	rawBolt(t, path, func(tx *bolt.Tx) error {
		eb, runNo := runEvents2(t, tx, "r1")
		return eb.Delete(eventKey(runNo, 3))
	})
	db = mustOpen(t, path, Options{})
	defer db.Close()
	_, err = db.Append("r1", Event{Type: "x"})
	errs = append(errs, err, db.Verify("r1"), blockedError(path, true, time.Second), &BlockedError{Path: path})
	t.Setenv("HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	_, err = DefaultPath()
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		if cli.MatchString(err.Error()) {
			t.Errorf("error names the CLI: %v", err)
		}
	}
	if !errors.Is(errs[1], ErrTampered) {
		t.Errorf("append to a truncated run: %v", errs[1])
	}
}
