package action

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow"
)

// PlaybookNotFoundError is a reference that names neither a file nor a
// built-in playbook.
type PlaybookNotFoundError struct {
	Ref      string
	Builtins []string
}

func (e *PlaybookNotFoundError) Error() string {
	return "no playbook file or built-in named " + `"` + e.Ref + `"; built-ins: ` + strings.Join(e.Builtins, ", ")
}

// LoadPlaybook resolves a file path or a built-in name, and returns the
// playbook and where it came from (an absolute path, or builtin:NAME). A
// file wins over a built-in of the same name, so a local copy can be edited
// and used.
func (c *Config) LoadPlaybook(ref string) (*playbooks.Playbook, string, error) {
	src, err := playbooks.ReadInput(ref)
	switch {
	case err == nil:
		abs, _ := filepath.Abs(ref)
		pb, err := playbooks.Load(ref, src, c.Registry())
		return pb, abs, err
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", inputErrorf("playbook: %w", err)
	}
	if src, ok := playbooks.Builtin(ref); ok {
		pb, err := playbooks.Load("builtin:"+ref, src, c.Registry())
		return pb, "builtin:" + ref, err
	}
	return nil, "", &InputError{&PlaybookNotFoundError{Ref: ref, Builtins: playbooks.BuiltinNames()}}
}

// Params are parameters as the operator gave them: -p NAME=VALUE pairs and
// a params file's values; -p wins.
type Params struct {
	Set  map[string]string
	File map[string]any
}

func resolveParams(pb *playbooks.Playbook, p Params) (playbooks.Values, error) {
	vals, err := playbooks.Resolve(pb, p.Set, p.File)
	if err != nil {
		return nil, inputErrorf("parameters of %s:\n%w", pb.Name, err)
	}
	return vals, nil
}

// trustedRun loads a journaled run and its playbook, refusing a run whose
// history does not verify: acting on it could repeat or skip a step.
func (c *Config) trustedRun(db *journal.DB, id string) (journal.Run, *playbooks.Playbook, error) {
	if _, err := db.Run(id); err != nil {
		return journal.Run{}, nil, err
	}
	if err := db.Verify(id); err != nil {
		return journal.Run{}, nil, &UntrustedError{RunID: id, Err: err}
	}
	// The run as its events leave it: a forced resume changes its
	// parameters and playbook text from then on.
	st, err := c.engine(db).Load(id)
	if err != nil {
		return journal.Run{}, nil, err
	}
	pb, err := c.reloadPlaybook(st.Run)
	return st.Run, pb, err
}

// UntrustedError is a run whose journal does not verify, so nothing acts
// on it. errors.Is(err, journal.ErrTampered) holds through Err.
type UntrustedError struct {
	RunID string
	Err   error
}

func (e *UntrustedError) Error() string {
	return "run " + e.RunID + " cannot be trusted, so nothing acts on it: " + e.Err.Error()
}
func (e *UntrustedError) Unwrap() error { return e.Err }

// reloadPlaybook loads a run's playbook from where it came from. If that
// file is gone, the exact text kept in the journal is used, so nothing is
// lost.
func (c *Config) reloadPlaybook(run journal.Run) (*playbooks.Playbook, error) {
	origin := run.PlaybookFile
	if name, ok := strings.CutPrefix(origin, "builtin:"); ok {
		if src, ok := playbooks.Builtin(name); ok {
			return playbooks.Load(origin, src, c.Registry())
		}
	} else if src, err := os.ReadFile(origin); err == nil {
		return playbooks.Load(origin, src, c.Registry())
	}
	c.Log.Warn().Str("playbook", origin).Msg("playbook no longer at its origin; using the text kept in the journal")
	return playbooks.Load("journal:"+run.ID, run.Source, c.Registry())
}

// NewestUnfinished finds the run resume continues when none is named.
func NewestUnfinished(db *journal.DB) (string, error) {
	var id string
	err := db.ScanRuns(func(s journal.RunSummary) bool {
		if s.Err != nil {
			return true // damaged: resuming it would be refused; name it to resume it
		}
		st := workflow.StatusOf(s.Last)
		if st.Finished() || st == workflow.StatusRollingBack || st == workflow.StatusRollbackFailed {
			return true
		}
		id = s.Run.ID
		return false
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", &workflow.NotResumableError{}
	}
	return id, nil
}
