package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

// reportView is what report.html.tmpl shows: strings ready to print, in
// UTC. html/template escapes each of them where it lands.
type reportView struct {
	RunID, Playbook, Origin, Digest, Status string
	Started, Ended, Duration, Generated     string
	User, Host, Version, Command            string
	Resumes                                 int
	Cluster                                 []kv
	Params                                  []paramRow
	Verified                                bool
	Head                                    journal.Head
	VerifyErr                               string
	PlaybookErr                             string
	Timeline                                []eventRow
	Steps                                   []stepRow
	Undo                                    []undoRow
	UndoRefused, UndoErr                    string
}

type kv struct{ Key, Value string }

type paramRow struct {
	Name, Value, Description string
	Secret                   bool
}

type eventRow struct {
	Seq                                uint64
	Time, Type, Instance, User, Detail string
	Class                              string // kill, resume, gate, fail, forced or ""
	Marker                             string // a line shown before the event: where a process stopped unjournaled
}

type stepRow struct {
	ID, Kind, Description, Group, Irreversible, Undo string
	Instances                                        []instRow
}

type instRow struct {
	Key, Status, Evidence, Error, Approver, Comment, Waited, Undo string
	Attempts                                                      []attemptRow
	Outputs                                                       []kv
}

type attemptRow struct {
	N                                           int
	Started, Duration, Outcome, Error, Evidence string
}

type undoRow struct {
	Instance, Kind, Action, Reason, Restores, Did string
	Outputs                                       []kv
}

const utcFormat = "2006-01-02 15:04:05.000 UTC"

func utc(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(utcFormat)
}

func buildReport(rep *action.Report, now time.Time) reportView {
	st := rep.State
	run := st.Run
	v := reportView{RunID: run.ID, Playbook: run.Playbook, Origin: run.PlaybookFile, Digest: run.Digest,
		Status: string(st.Status), Started: utc(run.Started), Ended: utc(st.Ended), Generated: utc(now),
		User: run.User, Host: run.Host, Version: run.CairnVersion, Resumes: st.Resumes,
		Verified: rep.Unverified == nil, Head: rep.Head, Command: rebuiltCommand(run)}
	if !st.Ended.IsZero() {
		v.Duration = st.Ended.Sub(run.Started).Round(time.Second).String()
	}
	if rep.Unverified != nil {
		v.VerifyErr = rep.Unverified.Error()
	}
	if rep.PlaybookErr != nil {
		v.PlaybookErr = rep.PlaybookErr.Error()
	}
	for _, k := range []string{"server", "context", "kube-system-uid"} {
		if val := run.Target[k]; val != "" {
			v.Cluster = append(v.Cluster, kv{k, val})
		}
	}
	v.Params = paramRows(run.Params, rep.Playbook)
	v.Timeline = timeline(st.Events)
	v.Steps = stepRows(st, rep.Playbook)
	v.Undo, v.UndoErr = undoRows(st, rep.Undo), errText(rep.UndoErr)
	if rep.NoReturn != nil {
		v.UndoRefused = rep.NoReturn.Error()
	}
	return v
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// rebuiltCommand is the run command that gives the run's playbook and
// parameters: the argv itself is not journaled, and secrets show as the
// journal holds them, redacted.
func rebuiltCommand(run journal.Run) string {
	b := []string{"cairn", "run", shellQuote(strings.TrimPrefix(run.PlaybookFile, "builtin:"))}
	for _, k := range slices.Sorted(maps.Keys(run.Params)) {
		b = append(b, "-p", shellQuote(k+"="+run.Params[k]))
	}
	return strings.Join(b, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func paramRows(vals map[string]string, pb *playbooks.Playbook) []paramRow {
	decl := map[string]*playbooks.Param{}
	if pb != nil {
		for _, p := range pb.Params {
			decl[p.Name] = p
		}
	}
	var out []paramRow
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		r := paramRow{Name: k, Value: vals[k]}
		if p := decl[k]; p != nil {
			r.Description, r.Secret = p.Description, p.Secret
		}
		if r.Secret && r.Value != workflow.Redacted {
			r.Value = workflow.Redacted // a default kept as a marker, or anything else: never shown
		}
		out = append(out, r)
	}
	return out
}

// timeline is every event, with the points where a process stopped without
// journaling (killed, crashed, the machine lost) marked before the event
// that took the run up again.
func timeline(evs []journal.Event) []eventRow {
	out := make([]eventRow, 0, len(evs))
	for i, ev := range evs {
		r := eventRow{Seq: ev.Seq, Time: utc(ev.Time), Type: ev.Type, Instance: workflow.Key(ev.Step, ev.Item),
			User: ev.User, Detail: strings.TrimSpace(ev.Error + "\n" + ev.Evidence)}
		switch ev.Type {
		case workflow.EvRunInterrupted, workflow.EvRollbackInterrup, workflow.EvLockTakenOver, workflow.EvLeftoversKilled:
			r.Class = "kill"
		case workflow.EvRunResumed, workflow.EvRollbackStarted:
			r.Class = "resume"
		case workflow.EvGateWaiting, workflow.EvGateApproved:
			r.Class = "gate"
			if c := comment(ev); c != "" {
				r.Detail = "comment: " + c
			}
		case workflow.EvInstanceFailed, workflow.EvRunFailed, workflow.EvUndoFailed, workflow.EvRollbackFailed:
			r.Class = "fail"
		case workflow.EvRunForced:
			r.Class = "forced"
		}
		if i > 0 && r.Class == "resume" && workflow.StatusOf(evs[i-1]) == workflow.StatusRunning {
			r.Marker = "The process stopped after seq " + itoa(evs[i-1].Seq) + " without journaling why (killed, crashed or its machine lost); " +
				ev.Type + " took the run up again here."
		}
		out = append(out, r)
	}
	return out
}

func comment(ev journal.Event) string {
	var d struct {
		Comment string `json:"comment"`
	}
	_ = json.Unmarshal(ev.Data, &d)
	return d.Comment
}
