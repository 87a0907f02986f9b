package action

import (
	"context"
	"fmt"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/workflow"
)

// PlanOptions asks what a run would do.
type PlanOptions struct {
	Playbook string
	Params   Params
	// Diff also asks each kind that can (steps.Differ) what it would
	// change on the cluster; this contacts the cluster.
	Diff bool
}

// Plan is a run's instances in order, and diffs when asked for.
type Plan struct {
	Entries []workflow.PlanEntry
	Diffs   []Diff
}

// Diff is what one instance would change, or why it cannot be told yet.
type Diff struct {
	Instance string
	Text     string // a unified diff, or "" when Pending
	// Pending says the params depend on outputs of earlier steps, known
	// only when the run gets there.
	Pending bool
}

// Plan expands a playbook without running anything. Without Diff it opens
// no journal and contacts no cluster.
func (c *Config) Plan(ctx context.Context, o PlanOptions) (*Plan, error) {
	pb, _, err := c.LoadPlaybook(o.Playbook)
	if err != nil {
		return nil, err
	}
	vals, err := resolveParams(pb, o.Params)
	if err != nil {
		return nil, err
	}
	entries, err := workflow.Plan(pb, vals)
	if err != nil {
		return nil, &InputError{err}
	}
	out := &Plan{Entries: entries}
	if !o.Diff {
		return out, nil
	}
	reg := c.Registry()
	for _, e := range out.Entries {
		if !reg.Diffs(e.Kind) {
			continue
		}
		title := workflow.Key(e.Step, e.Item)
		if e.NeedsOutputs {
			out.Diffs = append(out.Diffs, Diff{Instance: title, Pending: true})
			continue
		}
		ex, err := reg.Executor(e.Kind)
		if err != nil {
			return out, &ClusterError{fmt.Errorf("plan --diff %s: %w", title, err)}
		}
		text, err := ex.(steps.Differ).Diff(ctx, e.Value)
		if err != nil {
			return out, fmt.Errorf("plan --diff %s: %w", title, err)
		}
		out.Diffs = append(out.Diffs, Diff{Instance: title, Text: text})
	}
	return out, nil
}
