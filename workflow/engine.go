// Package workflow runs playbooks durably: every state change of a run is
// journaled before and after its side effect, and resume replays the journal
// to continue exactly where a run stopped.
package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/steps"
)

// Journal is the durable log the engine writes to.
type Journal interface {
	CreateRun(r journal.Run) error
	Run(id string) (journal.Run, error)
	Append(runID string, e journal.Event) (journal.Event, error)
	Events(runID string) ([]journal.Event, error)
}

// ContextJournal is a Journal whose Append may have to wait, as a journal
// mirrored into the cluster does: the engine then appends a step's started
// event with AppendContext, under the step's timeout, so that the wait is
// bounded like any of the step's API calls and ends when the run is
// interrupted.
type ContextJournal interface {
	Journal
	AppendContext(ctx context.Context, runID string, e journal.Event) (journal.Event, error)
}

// Kinds builds executors by kind name.
type Kinds interface {
	Executor(kind string) (steps.Executor, error)
}

// Engine runs, resumes, approves and rolls back runs.
type Engine struct {
	Journal Journal
	Kinds   Kinds
	Log     zerolog.Logger
	Now     func() time.Time
	// Sleep waits between retries; tests replace it to run fast.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnUpdate is called after every event is journaled, with the state it
	// changed, from the goroutine that wrote it; a CLI uses it to show
	// progress. It must not block.
	OnUpdate func(Update)
	// OnProgress receives progress of long steps; it may be called from
	// several goroutines at once.
	OnProgress func(step, item, msg string)
	// OnOutput receives each line a step's program writes, redacted, as
	// it arrives; it may be called from several goroutines at once. phase
	// is "" for the step's own attempts, runlog.Undo or runlog.Check for
	// its undo or check action.
	OnOutput func(step, item, phase, stream, line string)
	// Logs, if set, keeps the whole output of every attempt of a kind
	// that streams output (and of every undo and check action of one), in
	// a file whose sha256 the attempt's finishing event records.
	Logs *runlog.Store
	// User and Host identify who drives the run, for the audit.
	User string
	Host string
	// Version is recorded with each new run.
	Version string
	// Lock, if set, is held while a run's steps execute, so that two runs
	// never act on one cluster at once. nil means no lock (exec-only runs).
	Lock ClusterLock
	// Reaper, if set, kills what a killed cairn left running for the
	// run's unfinished instances, before resume or rollback goes on.
	Reaper Reaper
}

// New returns an Engine with a real clock and sleep.
func New(j Journal, kinds Kinds, log zerolog.Logger) *Engine {
	return &Engine{Journal: j, Kinds: kinds, Log: log, Now: time.Now, Sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Outcome is how an invocation of the engine ended without error.
type Outcome struct {
	RunID  string
	Status Status
	// Waiting lists the instances that wait for `cairn approve`.
	Waiting []Waiting
}

// Waiting is a gate instance that waits for approval.
type Waiting struct {
	Step    string
	Item    string
	Message string
}

// Binding ties a run to its cluster, for cairn's own steps and for every
// tool its steps run. The zero Binding is a run without a cluster.
type Binding struct {
	// Target is the cluster's identity (server, kube-system UID, context),
	// recorded with a new run and compared by resume and rollback.
	Target map[string]string
	// Kubeconfig is a file that selects exactly that cluster. Every program
	// a step runs gets it as KUBECONFIG, and ${cluster.kubeconfig} is it;
	// Context is its context, ${cluster.context}.
	Kubeconfig string
	Context    string
}

func (b Binding) refs() map[string]string {
	if b.Kubeconfig == "" {
		return nil
	}
	return map[string]string{"kubeconfig": b.Kubeconfig, "context": b.Context}
}

func (b Binding) env() map[string]string {
	if b.Kubeconfig == "" {
		return nil
	}
	return map[string]string{"KUBECONFIG": b.Kubeconfig}
}

// StartRequest describes a new run.
type StartRequest struct {
	Playbook *playbooks.Playbook
	Origin   string // file path, or builtin:NAME
	Values   playbooks.Values
	Cluster  Binding
	// NoMirror is journaled with run.started: the run is not kept in its
	// cluster (the caller's journal does not mirror it), now or on resume.
	NoMirror bool
}

// Start creates a run and executes it.
func (e *Engine) Start(ctx context.Context, req StartRequest) (Outcome, error) {
	if err := knownSecretItems(req.Playbook, req.Values, nil); err != nil {
		return Outcome{}, err
	}
	run := journal.Run{
		ID:           journal.NewRunID(e.Now()),
		Playbook:     req.Playbook.Name,
		PlaybookFile: req.Origin,
		Digest:       req.Playbook.Digest,
		Source:       req.Playbook.Source,
		Params:       req.Values.Redacted(req.Playbook),
		User:         e.User,
		Host:         e.Host,
		Started:      e.Now().UTC(),
		Target:       req.Cluster.Target,
		CairnVersion: e.Version,
	}
	// The lock comes first: a run refused by it leaves nothing in the journal.
	ctx, held, unlock, err := e.lockRun(ctx, run.ID, "run")
	if err != nil {
		return Outcome{}, err
	}
	defer unlock()
	if err := e.Journal.CreateRun(run); err != nil {
		return Outcome{}, fmt.Errorf("create run: %w", err)
	}
	r := e.newRun(run, req.Playbook, req.Values, Replay(run, nil), req.Cluster)
	started := journal.Event{Type: EvRunStarted, User: e.User}
	if req.NoMirror {
		started.Data, _ = json.Marshal(startedData{NoMirror: true})
	}
	if err := r.append(started); err != nil {
		return Outcome{RunID: run.ID}, err
	}
	if err := r.noteTakeover(held); err != nil {
		return Outcome{RunID: run.ID}, err
	}
	out, err := e.execute(ctx, r)
	return out, lockLost(ctx, r.redactErr(err))
}

// ResumeRequest describes a resume of an existing run. Set and File carry
// parameters given again on the command line: secrets, which the journal never
// holds, and any intended change (refused unless Force).
type ResumeRequest struct {
	RunID    string
	Playbook *playbooks.Playbook // loaded again from the run's origin
	Set      map[string]string
	File     map[string]any
	Cluster  Binding // the cluster resume would act on; zero if none
	Force    bool
}

// Resume continues a run where it stopped.
func (e *Engine) Resume(ctx context.Context, req ResumeRequest) (Outcome, error) {
	r, err := e.reopen(req, "resume")
	if err != nil {
		return Outcome{RunID: req.RunID}, err
	}
	if err := resumable(req.RunID, r.state.Status); err != nil {
		return Outcome{RunID: req.RunID, Status: r.state.Status}, err
	}
	ctx, held, unlock, err := e.lockRun(ctx, req.RunID, "resume")
	if err != nil {
		return Outcome{RunID: req.RunID}, err
	}
	defer unlock()
	if err := r.journalForced(); err != nil {
		return Outcome{RunID: req.RunID}, err
	}
	if err := r.append(journal.Event{Type: EvRunResumed, User: e.User}); err != nil {
		return Outcome{RunID: req.RunID}, err
	}
	if err := r.noteTakeover(held); err != nil {
		return Outcome{RunID: req.RunID}, err
	}
	if err := e.killLeftovers(ctx, r); err != nil {
		return Outcome{RunID: req.RunID}, lockLost(ctx, r.redactErr(err))
	}
	out, err := e.execute(ctx, r)
	return out, lockLost(ctx, r.redactErr(err))
}

// resumable refuses runs that resume cannot continue.
func resumable(runID string, st Status) error {
	switch st {
	case StatusSucceeded, StatusRolledBack, StatusRollingBack, StatusRollbackFailed:
		return &NotResumableError{RunID: runID, Status: st}
	}
	return nil
}

// Load replays a run from the journal.
func (e *Engine) Load(runID string) (*State, error) {
	run, err := e.Journal.Run(runID)
	if err != nil {
		return nil, err
	}
	evs, err := e.Journal.Events(runID)
	if err != nil {
		return nil, err
	}
	return Replay(run, evs), nil
}

// reopen loads a run and checks that the playbook, parameters and cluster
// given now match the ones it was started with. Each difference is refused
// unless forced; a forced difference is journaled (journalForced) once the
// caller is sure to go on, and before anything runs.
func (e *Engine) reopen(req ResumeRequest, verb string) (*runCtx, error) {
	st, err := e.Load(req.RunID)
	if err != nil {
		return nil, err
	}
	run := st.Run
	vals, err := ResumeValues(req.Playbook, run, req.Set, req.File)
	if err != nil {
		return nil, err
	}
	if err := knownSecretItems(req.Playbook, vals, st.Items); err != nil {
		return nil, err
	}
	var diffs []string
	if req.Playbook.Digest != run.Digest {
		diffs = append(diffs, fmt.Sprintf("the playbook text changed (%s: digest %.12s, run started with %.12s)", run.PlaybookFile, req.Playbook.Digest, run.Digest))
	}
	diffs = append(diffs, paramDiffs(run.Params, vals.Redacted(req.Playbook))...)
	if d := TargetDiff(run.Target, req.Cluster.Target); d != "" {
		diffs = append(diffs, d)
	}
	r := e.newRun(run, req.Playbook, vals, st, req.Cluster)
	if len(diffs) == 0 {
		return r, nil
	}
	if !req.Force {
		return nil, &RefusedError{RunID: run.ID, Verb: verb, Diffs: diffs}
	}
	r.forced = diffs
	return r, nil
}

// journalForced records the differences that --force overrode. The last
// event also carries what the run is from then on (its parameters, and the
// playbook text when that changed), so that a later plain resume compares
// with, and falls back to, what was forced rather than the original.
func (r *runCtx) journalForced() error {
	for i, d := range r.forced {
		ev := journal.Event{Type: EvRunForced, User: r.e.User, Evidence: d}
		if i == len(r.forced)-1 {
			fd := forcedData{Params: r.vals.Redacted(r.pb)}
			if r.pb.Digest != r.run.Digest {
				fd.Digest, fd.Source = r.pb.Digest, string(r.pb.Source)
				if !strings.HasPrefix(r.pb.File, "journal:") {
					fd.Origin = r.pb.File
				}
			}
			ev.Data, _ = json.Marshal(fd)
		}
		if err := r.append(ev); err != nil {
			return err
		}
	}
	r.forced = nil
	return nil
}

func paramDiffs(was, now map[string]string) []string {
	var out []string
	for k, v := range now {
		if old, ok := was[k]; !ok {
			out = append(out, fmt.Sprintf("parameter %s was not set, now %q", k, v))
		} else if old != v {
			out = append(out, fmt.Sprintf("parameter %s changed from %q to %q", k, old, v))
		}
	}
	for k, v := range was {
		if _, ok := now[k]; !ok {
			out = append(out, fmt.Sprintf("parameter %s (%q) is no longer declared", k, v))
		}
	}
	sort.Strings(out)
	return out
}

// targetInfo lists identity keys kept for the reader but not compared: the
// same cluster may well be reached through another kubeconfig context (a
// colleague's kubeconfig, a renamed context). Server and kube-system UID do
// tell clusters apart.
var targetInfo = map[string]bool{"context": true}

// TargetDiff compares cluster identities: how the one now reached differs
// from the one a run was recorded against. A run without a recorded target
// (or a resume without a cluster) has nothing to compare.
func TargetDiff(was, now map[string]string) string {
	if len(was) == 0 || len(now) == 0 {
		return ""
	}
	keys := make([]string, 0, len(was))
	for k := range was {
		if !targetInfo[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if now[k] != was[k] {
			parts = append(parts, fmt.Sprintf("%s %q (run started against %q)", k, now[k], was[k]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "a different cluster: " + strings.Join(parts, ", ")
}
