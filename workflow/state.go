package workflow

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/runlog"
)

// Event types written by the engine. The journal treats them as opaque; the
// engine derives every piece of run state from them by replay.
const (
	EvRunStarted       = "run.started"
	EvRunResumed       = "run.resumed"
	EvRunForced        = "run.forced"
	EvRunSucceeded     = "run.succeeded"
	EvRunFailed        = "run.failed"
	EvRunInterrupted   = "run.interrupted"
	EvItemsFrozen      = "items.frozen"
	EvInstanceSkipped  = "instance.skipped"
	EvInstanceStarted  = "instance.started"
	EvInstanceChecked  = "instance.checked"
	EvCheckStarted     = "check.started" // a check action asks whether a started instance's effect is in place
	EvCheckFailed      = "check.failed"  // it is not: the instance runs again
	EvInstanceSucceed  = "instance.succeeded"
	EvInstanceFailed   = "instance.failed"
	EvGateWaiting      = "gate.waiting"
	EvGateApproved     = "gate.approved"
	EvRollbackStarted  = "rollback.started"
	EvUndoStarted      = "undo.started"
	EvUndoSucceeded    = "undo.succeeded"
	EvUndoFailed       = "undo.failed"
	EvRollbackDone     = "rollback.succeeded"
	EvRollbackFailed   = "rollback.failed"
	EvRollbackInterrup = "rollback.interrupted"
)

// Status is a run's state as derived from its last event.
type Status string

const (
	StatusRunning        Status = "running"
	StatusSucceeded      Status = "succeeded"
	StatusFailed         Status = "failed"
	StatusInterrupted    Status = "interrupted"
	StatusWaiting        Status = "waiting-approval"
	StatusApproved       Status = "approved"
	StatusRollingBack    Status = "rolling-back"
	StatusRolledBack     Status = "rolled-back"
	StatusRollbackFailed Status = "rollback-failed"
)

// Statuses are every status a run can have.
func Statuses() []Status {
	return []Status{StatusRunning, StatusSucceeded, StatusFailed, StatusInterrupted, StatusWaiting,
		StatusApproved, StatusRollingBack, StatusRolledBack, StatusRollbackFailed}
}

// StatusOf derives a run's status from its last event. A run whose last event
// is not terminal is "running": either a process is still working on it or it
// was killed, and resume finds out which by taking the journal lock.
func StatusOf(last journal.Event) Status {
	switch last.Type {
	case EvRunSucceeded:
		return StatusSucceeded
	case EvRunFailed:
		return StatusFailed
	case EvRunInterrupted:
		return StatusInterrupted
	case EvGateWaiting:
		return StatusWaiting
	case EvGateApproved:
		return StatusApproved
	case EvRollbackDone:
		return StatusRolledBack
	case EvRollbackFailed:
		return StatusRollbackFailed
	case EvRollbackStarted, EvUndoStarted, EvUndoSucceeded, EvUndoFailed, EvRollbackInterrup:
		return StatusRollingBack
	}
	return StatusRunning
}

// Finished reports whether nothing is left to resume.
func (s Status) Finished() bool { return s == StatusSucceeded || s == StatusRolledBack }

// InstanceStatus is the state of one step instance.
type InstanceStatus string

const (
	InstPending   InstanceStatus = "pending"
	InstRunning   InstanceStatus = "started" // started, not finished: killed or still running
	InstSucceeded InstanceStatus = "succeeded"
	InstFailed    InstanceStatus = "failed"
	InstSkipped   InstanceStatus = "skipped"
	InstWaiting   InstanceStatus = "waiting-approval"
	InstApproved  InstanceStatus = "approved"
)

// Attempt is one try of an instance, as journaled.
type Attempt struct {
	N        int
	Started  time.Time
	Ended    time.Time
	Token    string
	Error    string
	Evidence string
	Outcome  string // succeeded, failed, checked, or "" while unfinished
	// Output is the attempt's output file, as its finishing event records
	// it; nil while unfinished or when none was kept.
	Output *runlog.Ref
	// OutputError says why the file may be incomplete.
	OutputError string
	// Final is set on a failed attempt after which no retry comes.
	Final bool
}

// Instance is the replayed state of a step instance.
type Instance struct {
	Step     string
	Item     string
	Status   InstanceStatus
	Token    string
	Attempts []Attempt
	Outputs  map[string]string
	Evidence string
	Error    string
	Approver string
	Comment  string
	Undo     InstanceStatus // pending until rollback touches it
	UndoErr  string
	// Undos and Checks are the attempts of the step's undo action (one
	// per rollback that ran it) and of its check action (one per resume
	// that asked it), numbered from 1 like a step's attempts.
	Undos  []Attempt
	Checks []Attempt
	// checking is set from a check action's start to its result: a
	// built-in check's instance.checked ends no check attempt.
	checking bool
}

// clone copies an instance and its attempts, which replay changes in place.
func (in *Instance) clone() *Instance {
	c := *in
	c.Attempts, c.Undos, c.Checks = slices.Clone(in.Attempts), slices.Clone(in.Undos), slices.Clone(in.Checks)
	return &c
}

// Key identifies an instance in maps and messages: step[item].
func Key(step, item string) string {
	if item == "" {
		return step
	}
	return step + "[" + item + "]"
}

// State is a run replayed from its events.
type State struct {
	Run       journal.Run
	Status    Status
	Events    []journal.Event
	Items     map[string][]string // frozen foreach lists by step id
	Instances map[string]*Instance
	Resumes   int
	Ended     time.Time
	// NoMirror is set when the run was started with --no-mirror: it is
	// not kept in its cluster, and resume keeps it so.
	NoMirror bool
}

// Instance returns the state of step[item], creating a pending one.
func (s *State) Instance(step, item string) *Instance {
	k := Key(step, item)
	in, ok := s.Instances[k]
	if !ok {
		in = &Instance{Step: step, Item: item, Status: InstPending, Undo: InstPending}
		s.Instances[k] = in
	}
	return in
}

// startedData is what a run.started event says about how the run is kept.
type startedData struct {
	NoMirror bool `json:"noMirror,omitempty"`
}

type itemsData struct {
	Items []string `json:"items"`
}

// forcedData is what a forced resume made the run: its parameters
// (redacted) and, when the text changed, the playbook's digest, origin and
// text.
type forcedData struct {
	Params map[string]string `json:"params,omitempty"`
	Digest string            `json:"digest,omitempty"`
	Origin string            `json:"origin,omitempty"`
	Source string            `json:"source,omitempty"`
}

type commentData struct {
	Comment string `json:"comment,omitempty"`
}

// Update is one change of a run's state, reported after its event was
// journaled: what a progress display needs without replaying events.
type Update struct {
	Event journal.Event // as journaled
	RunID string        // the run it belongs to
	Run   Status        // the run's status after it
	// Instance is a copy of the instance the event changed; nil for an
	// event of the whole run.
	Instance *Instance
	// Items are the items frozen by an EvItemsFrozen event, under
	// Event.Step (a step's or a group's id).
	Items []string
}

// State is what became of the instance: its status, or its undo's status
// for a rollback's event. "" for an event of the whole run.
func (u Update) State() InstanceStatus {
	switch {
	case u.Instance == nil:
		return ""
	case u.Event.Type == EvUndoStarted || u.Event.Type == EvUndoSucceeded || u.Event.Type == EvUndoFailed:
		return u.Instance.Undo
	}
	return u.Instance.Status
}

// update describes the change ev made to s.
func (s *State) update(ev journal.Event) Update {
	u := Update{Event: ev, RunID: s.Run.ID, Run: s.Status}
	switch {
	case ev.Type == EvItemsFrozen:
		u.Items = slices.Clone(s.Items[ev.Step])
	case ev.Step != "":
		if in, ok := s.Instances[Key(ev.Step, ev.Item)]; ok {
			u.Instance = in.clone()
		}
	}
	return u
}

// Replay derives a run's state from its events.
func Replay(run journal.Run, events []journal.Event) *State {
	s := &State{Run: run, Events: events, Items: map[string][]string{}, Instances: map[string]*Instance{}, Status: StatusRunning}
	for _, e := range events {
		s.apply(e)
	}
	if n := len(events); n > 0 {
		s.Status = StatusOf(events[n-1])
		if s.Status != StatusRunning && s.Status != StatusWaiting {
			s.Ended = events[n-1].Time
		}
	}
	return s
}

func (s *State) apply(e journal.Event) {
	switch e.Type {
	case EvRunStarted:
		var d startedData
		if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) == nil {
			s.NoMirror = d.NoMirror
		}
	case EvRunResumed:
		s.Resumes++
		for _, in := range s.Instances {
			in.checking = false // a check cut off by a kill
		}
	case EvRunForced:
		var d forcedData
		if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) == nil {
			if d.Params != nil {
				s.Run.Params = d.Params
			}
			if d.Digest != "" {
				s.Run.Digest, s.Run.Source = d.Digest, []byte(d.Source)
				if d.Origin != "" {
					s.Run.PlaybookFile = d.Origin
				}
			}
		}
	case EvItemsFrozen:
		var d itemsData
		if json.Unmarshal(e.Data, &d) == nil {
			s.Items[e.Step] = d.Items
		}
	case EvInstanceSkipped:
		in := s.Instance(e.Step, e.Item)
		in.Status, in.Evidence = InstSkipped, e.Evidence
	case EvInstanceStarted:
		in := s.Instance(e.Step, e.Item)
		in.Status, in.Token = InstRunning, e.Token
		in.Attempts = append(in.Attempts, Attempt{N: e.Attempt, Started: e.Time, Token: e.Token})
	case EvInstanceChecked, EvInstanceSucceed:
		in := s.Instance(e.Step, e.Item)
		in.Status, in.Outputs, in.Evidence, in.Error = InstSucceeded, e.Outputs, e.Evidence, ""
		outcome := "succeeded"
		if e.Type == EvInstanceChecked {
			outcome = "already in place"
			if in.checking {
				endPhase(in.Checks, e, "in place")
			}
		}
		s.endAttempt(in, e, outcome)
	case EvCheckStarted:
		in := s.Instance(e.Step, e.Item)
		in.Checks = append(in.Checks, Attempt{N: len(in.Checks) + 1, Started: e.Time, Token: e.Token})
	case EvCheckFailed:
		in := s.Instance(e.Step, e.Item)
		if in.checking {
			endPhase(in.Checks, e, "not in place")
		}
	case EvInstanceFailed:
		in := s.Instance(e.Step, e.Item)
		in.Status, in.Error, in.Evidence = InstFailed, e.Error, e.Evidence
		s.endAttempt(in, e, "failed")
	case EvGateWaiting:
		in := s.Instance(e.Step, e.Item)
		in.Status = InstWaiting
	case EvGateApproved:
		in := s.Instance(e.Step, e.Item)
		var d commentData
		_ = json.Unmarshal(e.Data, &d)
		in.Status, in.Approver, in.Comment = InstApproved, e.User, d.Comment
	case EvUndoStarted:
		in := s.Instance(e.Step, e.Item)
		in.Undo = InstRunning
		in.Undos = append(in.Undos, Attempt{N: len(in.Undos) + 1, Started: e.Time, Token: e.Token})
	case EvUndoSucceeded:
		in := s.Instance(e.Step, e.Item)
		in.Undo = InstSucceeded
		endPhase(in.Undos, e, "succeeded")
	case EvUndoFailed:
		in := s.Instance(e.Step, e.Item)
		in.Undo, in.UndoErr = InstFailed, e.Error
		endPhase(in.Undos, e, "failed")
	}
	if in := s.Instances[Key(e.Step, e.Item)]; in != nil && e.Step != "" {
		in.checking = e.Type == EvCheckStarted
	}
}

// endPhase ends the last undo or check attempt, if it is unfinished, with
// what its finishing event says.
func endPhase(atts []Attempt, e journal.Event, outcome string) {
	n := len(atts)
	if n == 0 || !atts[n-1].Ended.IsZero() {
		return
	}
	a := &atts[n-1]
	a.Ended, a.Error, a.Evidence, a.Outcome = e.Time, e.Error, e.Evidence, outcome
	var d finishData
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) == nil {
		out := d.Output
		if d.Check != nil {
			out = d.Check
		}
		if out != nil {
			a.Output, a.OutputError = &out.Ref, out.Error
		}
	}
}

func (s *State) endAttempt(in *Instance, e journal.Event, outcome string) {
	n := len(in.Attempts)
	if n == 0 || !in.Attempts[n-1].Ended.IsZero() {
		return
	}
	a := &in.Attempts[n-1]
	a.Ended, a.Error, a.Evidence, a.Outcome = e.Time, e.Error, e.Evidence, outcome
	var d finishData
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) == nil {
		a.Final = d.Final != nil && *d.Final
		if d.Output != nil {
			a.Output, a.OutputError = &d.Output.Ref, d.Output.Error
		}
	}
}
