package action

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/workflow"
)

// LogsRequest picks the attempts whose output `cairn logs` shows: a
// step's own attempts and those of its undo and check actions.
type LogsRequest struct {
	Run string
	// Step is STEP or STEP[ITEM]; "" means every step. A foreach step
	// given without an item means all of its items.
	Step string
	// Attempt picks a step's own attempt N, and none of its undo's or
	// check's; 0: every attempt.
	Attempt int
	// Follow keeps reading a running attempt, and the attempts that
	// start after it, until the run (or the step) is no longer running.
	Follow bool
	Poll   time.Duration // how often a follower looks again; 0: 250ms
}

// LogAttempt is one attempt whose output is shown.
type LogAttempt struct {
	RunID, Step, Item string
	// Phase is "" for an attempt of the step, runlog.Undo or runlog.Check
	// for one of its undo or check action; N counts within the phase.
	Phase   string
	N       int
	Outcome string // "" while it runs
	Path    string
}

// Name is "attempt N", or "undo attempt N", "check attempt N".
func (a LogAttempt) Name() string {
	if a.Phase == "" {
		return fmt.Sprintf("attempt %d", a.N)
	}
	return fmt.Sprintf("%s attempt %d", a.Phase, a.N)
}

// LogSink receives what Logs reads, in order.
type LogSink struct {
	Begin func(LogAttempt)
	Line  func(LogAttempt, runlog.Entry) error
	// Problem says that a file is not what the run recorded (changed,
	// missing, incomplete); what can be read is shown all the same.
	Problem func(LogAttempt, string)
}

// Logs shows the kept output of a run's attempts, read from the files
// beside the journal, which it only reads: it works while the run holds
// the journal. A finished attempt's file is checked against the sha256
// its finishing event recorded.
func (c *Config) Logs(ctx context.Context, req LogsRequest, sink LogSink) error {
	path, err := c.JournalFile()
	if err != nil {
		return err
	}
	store := &runlog.Store{Dir: runlog.Dir(path)}
	st, err := c.loadRun(req.Run)
	if err != nil {
		return err
	}
	step, item, oneItem, err := parseInstanceRef(req.Step)
	if err != nil {
		return err
	}
	if req.Step != "" {
		if err := c.knownStep(st, step); err != nil {
			return err
		}
	}
	if req.Poll <= 0 {
		req.Poll = 250 * time.Millisecond
	}
	sel := selector{step: step, item: item, oneItem: oneItem, attempt: req.Attempt}
	readers := map[string]*fileReader{}
	shown := 0
	for {
		// Once the run has ended, what is left is read to its end.
		follow := req.Follow && !sel.ended(st, path)
		list := sel.attempts(st, store)
		for _, a := range list {
			r := readers[a.key()]
			if r == nil {
				r = &fileReader{a: a.LogAttempt, sum: sha256.New()}
				readers[a.key()] = r
				sink.Begin(a.LogAttempt)
				shown++
			}
			if r.done {
				continue
			}
			r.a.Outcome = a.Outcome
			if err := r.read(sink); err != nil {
				return err
			}
			if a.Outcome == "" {
				if follow && !a.stale {
					break // later attempts wait until this one ends
				}
				r.finish(sink, nil, "", false)
				continue
			}
			r.finish(sink, a.ref, a.refErr, true)
		}
		if !follow {
			if shown == 0 {
				return noOutput(st, req.Step, req.Attempt)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(req.Poll):
		}
		if st, err = c.loadRun(st.Run.ID); err != nil {
			return err
		}
	}
}

func (c *Config) loadRun(ref string) (*workflow.State, error) {
	db, err := c.OpenJournal(context.Background(), true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	id, err := resolveRun(db, ref)
	if err != nil {
		return nil, err
	}
	run, err := db.Run(id)
	if err != nil {
		return nil, err
	}
	evs, err := db.Events(id)
	if err != nil {
		return nil, err
	}
	return workflow.Replay(run, evs), nil
}

// parseInstanceRef reads STEP or STEP[ITEM].
func parseInstanceRef(s string) (step, item string, oneItem bool, err error) {
	i := strings.IndexByte(s, '[')
	if i < 0 {
		return s, "", false, nil
	}
	if !strings.HasSuffix(s, "]") || i == 0 {
		return "", "", false, inputErrorf("step %q: write STEP or STEP[ITEM], e.g. relabel[prod]", s)
	}
	return s[:i], s[i+1 : len(s)-1], true, nil
}

func (c *Config) knownStep(st *workflow.State, step string) error {
	var ids []string
	seen := map[string]bool{}
	for _, e := range st.Events {
		if e.Type == workflow.EvInstanceStarted && !seen[e.Step] {
			seen[e.Step] = true
			ids = append(ids, e.Step)
		}
	}
	if seen[step] {
		return nil
	}
	if pb, err := playbooks.Load("journal:"+st.Run.ID, st.Run.Source, c.Registry()); err == nil {
		for _, s := range pb.Steps {
			if s.ID == step {
				return nil
			}
		}
	}
	if len(ids) == 0 {
		return inputErrorf("run %s has no step %s, and none of its steps has started", st.Run.ID, step)
	}
	return inputErrorf("run %s has no step %s that started; started: %s", st.Run.ID, step, strings.Join(ids, ", "))
}

func noOutput(st *workflow.State, step string, attempt int) error {
	switch {
	case step == "":
		return inputErrorf("run %s kept no output: only exec steps (and exec undo and check actions) keep it, from the attempt on", st.Run.ID)
	case attempt > 0:
		return inputErrorf("run %s kept no output of %s attempt %d: it has not run yet, or it is not an exec step", st.Run.ID, step, attempt)
	}
	return inputErrorf("run %s kept no output of %s: it has not run yet, or it is not an exec step (nor has an exec undo or check that ran)", st.Run.ID, step)
}

type selector struct {
	step, item string
	oneItem    bool
	attempt    int
}

type selected struct {
	LogAttempt
	ref    *runlog.Ref
	refErr string
	// stale: unfinished, and a later resume or rollback began, so it
	// will never finish (cairn was killed or interrupted).
	stale bool
}

func (a selected) key() string {
	return fmt.Sprintf("%s\x00%s\x00%d", workflow.Key(a.Step, a.Item), a.Phase, a.N)
}

// attempts lists the picked attempts that kept output, a step's own and
// its undo's and check's, in the order they started.
func (s selector) attempts(st *workflow.State, store *runlog.Store) []selected {
	var out []selected
	started := map[string]int{} // phase and instance: undo or check attempts seen
	stale := 0                  // out[:stale] started before the latest resume or rollback
	for _, e := range st.Events {
		phase := ""
		switch e.Type {
		case workflow.EvRunResumed, workflow.EvRollbackStarted:
			stale = len(out)
			continue
		case workflow.EvInstanceStarted:
		case workflow.EvUndoStarted:
			phase = runlog.Undo
		case workflow.EvCheckStarted:
			phase = runlog.Check
		default:
			continue
		}
		k := workflow.Key(e.Step, e.Item)
		in := st.Instances[k]
		var att *workflow.Attempt
		switch phase {
		case "":
			for i := range in.Attempts {
				if in.Attempts[i].N == e.Attempt {
					att = &in.Attempts[i]
				}
			}
		default:
			atts := in.Undos
			if phase == runlog.Check {
				atts = in.Checks
			}
			if i := started[phase+"\x00"+k]; i < len(atts) {
				att = &atts[i]
			}
			started[phase+"\x00"+k]++
		}
		if att == nil || !s.picks(e.Step, e.Item) || (s.attempt > 0 && (phase != "" || att.N != s.attempt)) {
			continue
		}
		file := runlog.PhaseFileName(e.Step, e.Item, phase, att.N)
		if att.Output != nil {
			file = att.Output.File
		}
		p, err := store.Path(st.Run.ID, file)
		if err != nil {
			continue
		}
		if att.Output == nil {
			// Unfinished, or a kind that keeps no output.
			if _, err := os.Stat(p); err != nil {
				continue
			}
		}
		outcome := att.Outcome
		if outcome == "" && !att.Ended.IsZero() {
			outcome = "ended"
		}
		out = append(out, selected{LogAttempt: LogAttempt{RunID: st.Run.ID, Step: e.Step, Item: e.Item, Phase: phase, N: att.N, Outcome: outcome, Path: p},
			ref: att.Output, refErr: att.OutputError})
	}
	for i := range out[:stale] {
		out[i].stale = true
	}
	return out
}

func (s selector) picks(step, item string) bool {
	return s.step == "" || (step == s.step && (!s.oneItem || item == s.item))
}

// ended tells a follower that nothing more will come: the run (or its
// rollback) stopped, or no process holds its journal (it was killed), or
// the one instance followed is done (or undone).
func (s selector) ended(st *workflow.State, journalPath string) bool {
	rollingBack := st.Status == workflow.StatusRollingBack && st.Events[len(st.Events)-1].Type != workflow.EvRollbackInterrup
	if (st.Status != workflow.StatusRunning && !rollingBack) || !journal.WriterActive(journalPath) {
		return true
	}
	if s.step == "" || !s.oneItem {
		return false
	}
	in, ok := st.Instances[workflow.Key(s.step, s.item)]
	if !ok {
		return false
	}
	if rollingBack {
		return in.Undo == workflow.InstSucceeded || in.Undo == workflow.InstFailed
	}
	switch in.Status {
	case workflow.InstSucceeded, workflow.InstSkipped, workflow.InstWaiting, workflow.InstApproved:
		return true
	case workflow.InstFailed:
		n := len(in.Attempts)
		return n > 0 && in.Attempts[n-1].Final
	}
	return false
}

// fileReader reads one attempt's file as it grows, line by line, and
// hashes what it read.
type fileReader struct {
	a       LogAttempt
	f       *os.File
	missing bool
	partial []byte
	sum     hash.Hash
	n       int64
	done    bool
}

const maxPartial = 1 << 20

func (r *fileReader) read(sink LogSink) error {
	if r.f == nil {
		f, err := os.Open(r.a.Path)
		if errors.Is(err, fs.ErrNotExist) {
			r.missing = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("output of %s %s: %w", workflow.Key(r.a.Step, r.a.Item), r.a.Name(), err)
		}
		r.f, r.missing = f, false
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.f.Read(buf)
		if n > 0 {
			r.sum.Write(buf[:n])
			r.n += int64(n)
			if err := r.lines(buf[:n], sink); err != nil {
				return err
			}
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("output of %s %s: %w", workflow.Key(r.a.Step, r.a.Item), r.a.Name(), err)
		}
	}
}

func (r *fileReader) lines(b []byte, sink LogSink) error {
	for len(b) > 0 {
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			r.partial = append(r.partial, b...)
			if len(r.partial) > maxPartial {
				return r.emit(sink)
			}
			return nil
		}
		r.partial = append(r.partial, b[:i]...)
		if err := r.emit(sink); err != nil {
			return err
		}
		b = b[i+1:]
	}
	return nil
}

func (r *fileReader) emit(sink LogSink) error {
	e := runlog.Parse(string(r.partial))
	r.partial = r.partial[:0]
	return sink.Line(r.a, e)
}

// finish ends an attempt's output: what is left of a last line, then the
// check against what its finishing event recorded.
func (r *fileReader) finish(sink LogSink, ref *runlog.Ref, refErr string, ended bool) {
	r.done = true
	if len(r.partial) > 0 {
		_ = r.emit(sink)
	}
	if r.f != nil {
		r.f.Close()
	}
	switch {
	case r.missing:
		sink.Problem(r.a, fmt.Sprintf("output file %s is missing: output is kept beside the journal that ran the attempt (a run taken up from the cluster's journal mirror has here only what this journal ran); its last lines are in the attempt's event: cairn show RUN --events", r.a.Path))
	case !ended:
	case ref == nil:
		sink.Problem(r.a, "the journal recorded no checksum of this output: the attempt did not finish (cairn was killed), so the file cannot be checked")
	case hex.EncodeToString(r.sum.Sum(nil)) != ref.SHA256 || r.n != ref.Bytes:
		sink.Problem(r.a, fmt.Sprintf("output file %s does not match the journal (recorded %d bytes, sha256 %.12s; file has %d bytes, sha256 %.12s): it was changed after the run wrote it",
			r.a.Path, ref.Bytes, ref.SHA256, r.n, hex.EncodeToString(r.sum.Sum(nil))))
	}
	if refErr != "" {
		sink.Problem(r.a, "the output file is incomplete: "+refErr)
	}
}
