package action

import (
	"fmt"
	"strings"

	"github.com/cairn-dev/cairn/journal"
)

// LatestRun is the run reference that means the newest run of the journal.
const LatestRun = "@latest"

// RunRefError is a run reference that names no run of the journal, or
// more than one. Only the first errors.Is journal.ErrRunNotFound; an
// ambiguous reference is the operator's to make longer.
type RunRefError struct {
	Ref, Journal string
	Matches      []string // the first few runs it could mean
}

func (e *RunRefError) Error() string {
	switch {
	case len(e.Matches) > 0:
		return fmt.Sprintf("run %q is ambiguous in journal %s: it starts %s; give more of the id",
			e.Ref, e.Journal, strings.Join(e.Matches, ", "))
	case e.Ref == LatestRun:
		return fmt.Sprintf("journal %s has no runs yet", e.Journal)
	}
	return fmt.Sprintf("journal %s has no run %s", e.Journal, e.Ref)
}

func (e *RunRefError) Unwrap() error {
	if len(e.Matches) > 0 {
		return nil
	}
	return journal.ErrRunNotFound
}

// Ambiguous tells an ambiguous reference from a missing run.
func (e *RunRefError) Ambiguous() bool { return len(e.Matches) > 0 }

// resolveRun turns what the operator typed into a run id: the id itself,
// a prefix of exactly one run's id (ids start with their UTC start time,
// so "20261203-0915" is enough), or @latest for the newest run.
func resolveRun(db *journal.DB, ref string) (string, error) {
	if ref == LatestRun {
		sums, err := db.Runs(1)
		if err != nil {
			return "", err
		}
		if len(sums) == 0 {
			return "", &RunRefError{Ref: ref, Journal: db.Path()}
		}
		return sums[0].Run.ID, nil
	}
	ids, err := db.RunsWithPrefix(ref, 4)
	if err != nil {
		return "", err
	}
	for _, id := range ids {
		if id == ref {
			return id, nil // a whole id, even if it starts another
		}
	}
	switch len(ids) {
	case 0:
		return "", &RunRefError{Ref: ref, Journal: db.Path()}
	case 1:
		return ids[0], nil
	}
	return "", &RunRefError{Ref: ref, Journal: db.Path(), Matches: ids}
}

// resumedRun is the run resume or rollback acts on: the one named (as
// resolveRun reads it), or else the newest unfinished one.
func resumedRun(db *journal.DB, ref string) (string, error) {
	if ref == "" {
		return NewestUnfinished(db)
	}
	return resolveRun(db, ref)
}

// matchRef reads ref against ids listed newest first (a mirror's runs),
// as resolveRun reads it against a journal; where names the list.
func matchRef(ref, where string, ids []string) (string, error) {
	if ref == LatestRun {
		if len(ids) == 0 {
			return "", &RunRefError{Ref: ref, Journal: where}
		}
		return ids[0], nil
	}
	var matches []string
	for _, id := range ids {
		if id == ref {
			return id, nil
		}
		if strings.HasPrefix(id, ref) {
			matches = append(matches, id)
		}
	}
	switch len(matches) {
	case 0:
		return "", &RunRefError{Ref: ref, Journal: where}
	case 1:
		return matches[0], nil
	}
	return "", &RunRefError{Ref: ref, Journal: where, Matches: matches[:min(len(matches), 4)]}
}
