package workflow

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cairn-dev/cairn/playbooks"
)

// PlanEntry is one instance in a plan: what would happen to it, and why.
type PlanEntry struct {
	Step        string     `json:"step" yaml:"step"`
	Group       string     `json:"group,omitempty" yaml:"group,omitempty"` // the group the step belongs to
	Item        string     `json:"item,omitempty" yaml:"item,omitempty"`
	Kind        string     `json:"kind" yaml:"kind"`
	Description string     `json:"description,omitempty" yaml:"description,omitempty"`
	Action      string     `json:"action" yaml:"action"`
	Reason      string     `json:"reason,omitempty" yaml:"reason,omitempty"`
	Params      ParamsJSON `json:"params,omitempty" yaml:"params,omitempty"`
	Undo        string     `json:"undo,omitempty" yaml:"undo,omitempty"`
	// Irreversible is why the step cannot be undone, if it cannot: a point
	// of no return.
	Irreversible string `json:"irreversible,omitempty" yaml:"irreversible,omitempty"`
	// NeedsOutputs says that the params use outputs of earlier steps,
	// which are only known when the run gets there: Params holds
	// <steps.ID.NAME> placeholders for them.
	NeedsOutputs bool `json:"needsOutputs,omitempty" yaml:"needsOutputs,omitempty"`
	// Value is the rendered params, for a kind that can show a diff.
	Value any `json:"-" yaml:"-"`
}

// ParamsJSON is an instance's rendered params as JSON text, secrets
// redacted. It is written as a JSON object in -o json and a mapping in -o
// yaml; text that is not JSON (why params cannot be rendered yet) as a
// string.
type ParamsJSON string

// MarshalJSON writes the params as they are: an object, not a string.
func (p ParamsJSON) MarshalJSON() ([]byte, error) {
	if json.Valid([]byte(p)) {
		return []byte(p), nil
	}
	return json.Marshal(string(p))
}

// MarshalYAML writes the params as a mapping.
func (p ParamsJSON) MarshalYAML() (any, error) {
	var v any
	if err := json.Unmarshal([]byte(p), &v); err != nil {
		return string(p), nil
	}
	return v, nil
}

// Plan actions.
const (
	PlanRun     = "run"
	PlanSkip    = "skip"
	PlanRecheck = "re-check"
	PlanRetry   = "retry"
	PlanWait    = "wait"
)

// Plan expands a playbook without running anything: no journal, no cluster.
// Items from a source are only known at run time.
// A foreach list known before the run that would hold a secret is refused,
// as the run would refuse it.
func Plan(pb *playbooks.Playbook, vals playbooks.Values) ([]PlanEntry, error) {
	if err := knownSecretItems(pb, vals, nil); err != nil {
		return nil, err
	}
	return plan(pb, vals, nil), nil
}

// ResumePlan tells, for a journaled run, which instances resume would skip,
// re-check, re-run or wait on. It refuses as Resume would (a finished run;
// a changed playbook text or parameters without Force), so that a plan
// never shows work that resume would not do; the cluster is not compared,
// since a plan does not connect. forced lists what Force would override.
func (e *Engine) ResumePlan(req ResumeRequest) (entries []PlanEntry, forced []string, err error) {
	r, err := e.reopen(req, "resume")
	if err != nil {
		return nil, nil, err
	}
	if err := resumable(req.RunID, r.state.Status); err != nil {
		return nil, nil, err
	}
	return plan(req.Playbook, r.vals, r.state), r.forced, nil
}

func plan(pb *playbooks.Playbook, vals playbooks.Values, st *State) []PlanEntry {
	red := playbooks.NewRedactor(vals.Secrets(pb))
	var out []PlanEntry
	var done *playbooks.Group
	for _, step := range pb.Steps {
		if g := step.Group; g != nil {
			// A group runs item-major, and its plan reads the same way.
			if g == done {
				continue
			}
			done = g
			items, note := planItems(step, vals, st)
			for _, item := range items {
				for _, child := range g.Steps {
					out = append(out, planEntry(child, item, note, vals, st, red))
				}
			}
			continue
		}
		items, note := planItems(step, vals, st)
		for _, item := range items {
			out = append(out, planEntry(step, item, note, vals, st, red))
		}
	}
	return out
}

func planEntry(step *playbooks.Step, item, note string, vals playbooks.Values, st *State, red *playbooks.Redactor) PlanEntry {
	pe := PlanEntry{Step: step.ID, Item: item, Kind: step.Kind, Description: step.Description, Action: PlanRun, Reason: note}
	sc := &playbooks.Scope{Params: vals, Item: item, HasItem: step.Foreach != nil,
		Output: func(s, n string) (string, error) {
			pe.NeedsOutputs = true
			return fmt.Sprintf("<steps.%s.%s>", s, n), nil
		},
		Cluster: map[string]string{"kubeconfig": "<cluster.kubeconfig>", "context": "<cluster.context>"}}
	if step.Group != nil {
		pe.Group = step.Group.ID
	}
	if r, err := renderParams(step.Params, sc, red); err == nil {
		// Value keeps the secrets for a diff; what is shown has none.
		pe.Params, pe.Value = ParamsJSON(r.json), r.value
	}
	if step.Undo != nil {
		pe.Undo = step.Undo.Kind
	}
	pe.Irreversible = step.Irreversible
	var when []string
	if step.Group != nil && step.Group.When != nil {
		when = append(when, step.Group.When.Source)
	}
	if step.When != nil {
		when = append(when, step.When.Source)
	}
	if st != nil {
		pe.Action, pe.Reason = resumeAction(step, st.Instances[Key(step.ID, item)])
	} else if len(when) > 0 {
		pe.Reason = "only when " + strings.Join(when, " and ")
	}
	return pe
}

func planItems(step *playbooks.Step, vals playbooks.Values, st *State) ([]string, string) {
	fe := step.Foreach
	if fe == nil {
		return []string{""}, ""
	}
	if st != nil {
		if items, ok := st.Items[step.ItemsID()]; ok {
			return items, "items frozen in the journal"
		}
	}
	switch {
	case fe.Param != "":
		list, _ := vals[fe.Param].([]string)
		return list, ""
	case fe.Source != nil:
		return []string{"<" + fe.Source.Kind + ">"}, "items come from " + fe.Source.Kind + " at run time"
	}
	sc := &playbooks.Scope{Params: vals}
	items := make([]string, 0, len(fe.Items))
	for _, it := range fe.Items {
		v, err := playbooks.RenderString(it, sc)
		if err != nil {
			v = it
		}
		items = append(items, v)
	}
	return items, ""
}

func resumeAction(step *playbooks.Step, in *Instance) (string, string) {
	if in == nil {
		return PlanRun, "not started"
	}
	switch in.Status {
	case InstSucceeded:
		return PlanSkip, "succeeded"
	case InstSkipped:
		return PlanSkip, in.Evidence
	case InstWaiting:
		return PlanWait, "waits for approval"
	case InstApproved:
		return PlanRun, "approved by " + in.Approver + "; the gate passes"
	case InstFailed:
		return PlanRetry, "failed: " + in.Error
	case InstRunning:
		if step.Check != nil {
			return PlanRecheck, fmt.Sprintf("started but not finished; check %s decides, else re-run with token %s", step.Check.Kind, in.Token)
		}
		return PlanRecheck, fmt.Sprintf("started but not finished; re-run with the same token %s (the kind's own check decides where it has one)", in.Token)
	}
	return PlanRun, "not started"
}
