package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow"
)

func itoa[T ~int | ~uint64](n T) string { return strconv.FormatUint(uint64(n), 10) }

// stepRows lists the playbook's steps in order, each with its instances:
// one per frozen item of a foreach, pending ones too. Instances the
// playbook does not account for (its text unreadable) follow, in the order
// the journal first names them.
func stepRows(st *workflow.State, pb *playbooks.Playbook) []stepRow {
	waited := gateWaits(st)
	done := map[string]bool{}
	var out []stepRow
	if pb != nil {
		for _, s := range pb.Steps {
			r := stepRow{ID: s.ID, Kind: s.Kind, Description: s.Description, Irreversible: s.Irreversible}
			items := []string{""}
			if s.Group != nil {
				r.Group = s.Group.ID
				items = st.Items[s.Group.ID]
			} else if s.Foreach != nil {
				items = st.Items[s.ID]
			}
			if s.Undo != nil {
				r.Undo = s.Undo.Kind
			}
			for _, item := range items {
				k := workflow.Key(s.ID, item)
				done[k] = true
				in := st.Instances[k]
				if in == nil {
					in = &workflow.Instance{Step: s.ID, Item: item, Status: workflow.InstPending, Undo: workflow.InstPending}
				}
				r.Instances = append(r.Instances, instView(in, waited[k]))
			}
			out = append(out, r)
		}
	}
	var other *stepRow
	for _, ev := range st.Events {
		k := workflow.Key(ev.Step, ev.Item)
		in := st.Instances[k]
		if ev.Step == "" || done[k] || in == nil {
			continue
		}
		done[k] = true
		if other == nil || other.ID != ev.Step {
			out = append(out, stepRow{ID: ev.Step, Description: "(not in the playbook text the journal keeps)"})
			other = &out[len(out)-1]
		}
		other.Instances = append(other.Instances, instView(in, waited[k]))
	}
	return out
}

// gateWaits is how long each gate instance waited for its approval.
func gateWaits(st *workflow.State) map[string]string {
	since := map[string]time.Time{}
	out := map[string]string{}
	for _, ev := range st.Events {
		k := workflow.Key(ev.Step, ev.Item)
		switch ev.Type {
		case workflow.EvGateWaiting:
			since[k] = ev.Time
		case workflow.EvGateApproved:
			if t, ok := since[k]; ok {
				out[k] = ev.Time.Sub(t).Round(time.Second).String()
			}
		}
	}
	for k, t := range since {
		if _, ok := out[k]; !ok && st.Instances[k] != nil && st.Instances[k].Status == workflow.InstWaiting {
			out[k] = "still waiting since " + utc(t)
		}
	}
	return out
}

func instView(in *workflow.Instance, waited string) instRow {
	r := instRow{Key: workflow.Key(in.Step, in.Item), Status: string(in.Status), Evidence: in.Evidence, Error: in.Error,
		Approver: in.Approver, Comment: in.Comment, Waited: waited, Outputs: kvs(in.Outputs)}
	if in.Undo != workflow.InstPending {
		r.Undo = string(in.Undo) + " " + in.UndoErr
	}
	for _, a := range in.Attempts {
		av := attemptRow{N: a.N, Started: utc(a.Started), Outcome: a.Outcome, Error: a.Error, Evidence: a.Evidence}
		if a.Outcome == "" {
			av.Outcome = "started, never finished"
		} else {
			av.Duration = a.Ended.Sub(a.Started).Round(time.Millisecond).String()
		}
		r.Attempts = append(r.Attempts, av)
	}
	return r
}

func kvs(m map[string]string) []kv {
	var out []kv
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, kv{k, m[k]})
	}
	return out
}

// undoRows pairs each entry of the rollback plan (what its undo would
// restore: the undo's rendered parameters) with what the step did (its
// evidence and outputs, as journaled).
func undoRows(st *workflow.State, entries []workflow.PlanEntry) []undoRow {
	var out []undoRow
	for _, e := range entries {
		k := workflow.Key(e.Step, e.Item)
		r := undoRow{Instance: k, Kind: e.Kind, Action: e.Action, Reason: e.Reason, Restores: indentJSON(string(e.Params))}
		if in := st.Instances[k]; in != nil {
			r.Did, r.Outputs = in.Evidence, kvs(in.Outputs)
		}
		out = append(out, r)
	}
	return out
}

func indentJSON(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") != nil {
		return s
	}
	return b.String()
}
