package playbooks

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// stepInfo is what references to a step need to know.
type stepInfo struct {
	id      string
	index   int
	line    int
	known   bool // false when the step's kind failed, so any output is accepted
	outputs []string
	group   []string // a group's step ids; non-nil for a group
}

// refCtx says which references a string may use.
type refCtx struct {
	idx       int  // index of the step holding the string
	item      bool // ${item} is defined
	own       bool // the step's own outputs are defined (undo)
	failed    bool // an undo that also runs for failed instances: no outputs
	inForeach bool // the string is part of the foreach itself
}

func (l *loader) checkRefs(strs []strNode, rc refCtx) {
	for _, s := range strs {
		refs, err := refsOf(s.s)
		if err != nil {
			l.at(s.pos, "%v", err)
		}
		for _, r := range refs {
			l.checkRef(r, s.pos, rc)
		}
	}
}

func (l *loader) checkRef(r *ref, pos Pos, rc refCtx) {
	switch r.kind {
	case refParam:
		if l.params[r.name] == nil {
			l.at(pos, "%s: undefined parameter %s (%s)", r.text, r.name, l.paramList())
		}
	case refItem:
		if rc.inForeach {
			l.at(pos, "%s cannot be used in the foreach list itself", r.text)
		} else if !rc.item {
			l.at(pos, "%s is only defined in a step with foreach", r.text)
		}
	case refCluster:
		l.pb.ClusterRefs = true
	case refStep:
		info := l.steps[r.step]
		switch {
		case info == nil:
			l.at(pos, "%s: undefined step %s", r.text, r.step)
		case info.group != nil:
			l.at(pos, "%s: %s is a group of steps and has no outputs of its own; use one of its steps' (%s)", r.text, r.step, strings.Join(info.group, ", "))
		case info.index > rc.idx:
			l.at(pos, "%s: step %s comes later (line %d); only earlier steps' outputs can be used", r.text, r.step, info.line)
		case info.index == rc.idx && !rc.own:
			l.at(pos, "%s: a step cannot use its own outputs (only its undo can)", r.text)
		case info.index == rc.idx && rc.failed:
			l.at(pos, "%s: with undoFailed the undo also runs for a failed instance, which has no outputs; do without them", r.text)
		case info.known && !slices.Contains(info.outputs, r.name):
			declared := "it declares no outputs"
			if len(info.outputs) > 0 {
				declared = "it declares: " + strings.Join(info.outputs, ", ")
			}
			l.at(pos, "%s: step %s has no output %s (%s)", r.text, r.step, r.name, declared)
		}
	}
}

func (l *loader) paramList() string {
	if len(l.pb.Params) == 0 {
		return "the playbook declares no parameters"
	}
	names := make([]string, len(l.pb.Params))
	for i, p := range l.pb.Params {
		names[i] = p.Name
	}
	return "declared: " + strings.Join(names, ", ")
}

// noSecretItem refuses a foreach item that references a secret parameter:
// items are kept in the journal and shown in clear.
func (l *loader) noSecretItem(n *yaml.Node, s string) {
	refs, _ := refsOf(s)
	for _, r := range refs {
		if p := l.params[r.name]; r.kind == refParam && p != nil && p.Secret {
			l.errorf(n, "foreach: item %s uses secret parameter %s, and items are kept in the journal and shown in clear; use the secret in the step's params instead", r.text, r.name)
		}
	}
}
