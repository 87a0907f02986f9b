package playbooks

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// groupKeys are the keys a group may have; anything else (a kind, check,
// undo, retry, timeout, undoFailed) belongs on its steps.
var groupKeys = []string{"id", "description", "foreach", "maxParallel", "when", "steps"}

// groupOnlyKeys are refused on a step inside a group.
var groupOnlyKeys = []string{"foreach", "maxParallel", "steps"}

// groupSteps returns the steps node of a step mapping that has one, i.e. of
// a group, else nil.
func groupSteps(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "steps" {
			return n.Content[j+1]
		}
	}
	return nil
}

// group loads a step group and appends its steps to the playbook's steps.
func (l *loader) group(i int, n *yaml.Node) {
	label := fmt.Sprintf("steps[%d]", i)
	idx := l.stepIndex[n]
	g := &Group{Pos: l.pos(n), MaxParallel: DefaultMaxParallel}
	keys := map[string]pair{}
	var others []pair
	for _, kv := range l.pairs(n, label) {
		if slices.Contains(groupKeys, kv.key.Value) {
			keys[kv.key.Value] = kv
		} else {
			others = append(others, kv)
		}
	}
	g.ID, _, label = l.stepID(n, keys, idx, label, "group ")
	for _, kv := range others {
		k := kv.key.Value
		if slices.Contains(stepKeys, k) {
			l.errorf(kv.key, "%s: a group (a step with steps) has no %s of its own; put it on the steps inside", label, k)
		} else if _, ok := l.kinds.Kind(k); ok {
			l.errorf(kv.key, "%s: a step has either a kind (%s) or steps (a group), not both", label, k)
		} else {
			l.errorf(kv.key, "%s: unknown key %s in a group (group keys: %s)", label, k, strings.Join(groupKeys, ", "))
		}
	}
	if p, ok := keys["description"]; ok {
		g.Description, _ = l.scalarString(p.val, "description")
	}
	stepsKey := keys["steps"]
	if p, ok := keys["foreach"]; ok {
		g.Foreach = l.foreach(p.val, refCtx{idx: idx, inForeach: true})
	} else {
		l.errorf(stepsKey.key, "%s: steps need a foreach on the group; without one, list the steps at the top level", label)
	}
	if p, ok := keys["maxParallel"]; ok {
		if mp, ok := l.integer(p.val, "maxParallel"); ok {
			if mp < 1 || mp > MaxParallelLimit {
				l.errorf(p.val, "maxParallel must be between 1 and %d, got %d", MaxParallelLimit, mp)
			} else {
				g.MaxParallel = mp
			}
		}
	}
	if p, ok := keys["when"]; ok {
		g.When = l.when(p.val, refCtx{idx: idx, item: true})
	}
	sn := stepsKey.val
	switch {
	case sn.Kind != yaml.SequenceNode:
		l.errorf(sn, "%s: steps: expected a list of steps, got %s", label, describeNode(sn))
		return
	case len(sn.Content) == 0:
		l.errorf(sn, "%s: steps: the list is empty; a group needs at least one step", label)
		return
	}
	for j, cn := range sn.Content {
		if st := l.step(fmt.Sprintf("%s.steps[%d]", label, j), cn, g); st != nil {
			g.Steps = append(g.Steps, st)
			l.pb.Steps = append(l.pb.Steps, st)
		}
	}
}
