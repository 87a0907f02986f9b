package playbooks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var stepKeys = []string{"id", "description", "foreach", "maxParallel", "when", "retry", "timeout", "check", "undo", "undoFailed", "irreversible"}

func (l *loader) stepList(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "steps: expected a list of steps, got %s", describeNode(n))
		return
	}
	if len(n.Content) == 0 {
		l.errorf(n, "steps: the list is empty; a playbook needs at least one step")
		return
	}
	// Ids first, so that a reference to a later step can be told from a typo.
	// Indices are flat, in document order: a group, then its steps.
	l.stepIndex = map[*yaml.Node]int{}
	next := 0
	for _, sn := range n.Content {
		info := l.recordStep(sn, &next)
		if ch := groupSteps(sn); ch != nil && ch.Kind == yaml.SequenceNode {
			var ids []string
			for _, cn := range ch.Content {
				if ci := l.recordStep(cn, &next); ci != nil {
					ids = append(ids, ci.id)
				}
			}
			if info != nil {
				info.group = append([]string{}, ids...)
			}
		}
	}
	for i, sn := range n.Content {
		if groupSteps(sn) != nil {
			l.group(i, sn)
		} else if st := l.step(fmt.Sprintf("steps[%d]", i), sn, nil); st != nil {
			l.pb.Steps = append(l.pb.Steps, st)
		}
	}
	l.checkPointsOfNoReturn()
}

// recordStep gives a step node its flat index and records its id. It
// returns the new record, or nil when the id is missing, bad or taken.
func (l *loader) recordStep(sn *yaml.Node, next *int) *stepInfo {
	idx := *next
	*next++
	l.stepIndex[sn] = idx
	if sn.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(sn.Content); j += 2 {
		k, v := sn.Content[j], sn.Content[j+1]
		if k.Value != "id" {
			continue
		}
		if v.Kind == yaml.ScalarNode && idRE.MatchString(v.Value) && l.steps[v.Value] == nil {
			l.steps[v.Value] = &stepInfo{id: v.Value, index: idx, line: v.Line}
			return l.steps[v.Value]
		}
		break
	}
	return nil
}

// step loads one ordinary step; g is its group, or nil for a top-level step.
// stepID reads the id of the step or group at index i. It returns the id,
// the step's info when the id is valid and its own (not a duplicate), and
// the label to name it by in later messages (prefix + id).
func (l *loader) stepID(n *yaml.Node, keys map[string]pair, i int, label, prefix string) (string, *stepInfo, string) {
	p, ok := keys["id"]
	if !ok {
		l.errorf(n, "%s: missing id", label)
		return "", nil, label
	}
	id, ok := l.scalarString(p.val, label+".id")
	if !ok {
		return "", nil, label
	}
	if !idRE.MatchString(id) {
		l.errorf(p.val, "bad step id %q: must match %s", id, idRE)
		return id, nil, label
	}
	if info := l.steps[id]; info.index != i {
		l.errorf(p.val, "duplicate step id %s (first at line %d)", id, info.line)
		return id, nil, prefix + id
	}
	return id, l.steps[id], prefix + id
}

func (l *loader) step(label string, n *yaml.Node, g *Group) *Step {
	i := l.stepIndex[n]
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s: expected a mapping, got %s", label, describeNode(n))
		return nil
	}
	st := &Step{
		Pos:         l.pos(n),
		MaxParallel: DefaultMaxParallel,
		Retry:       Retry{Attempts: DefaultAttempts, Initial: DefaultInitialBackoff, Max: DefaultMaxBackoff},
	}
	keys := map[string]pair{}
	var kinds []pair
	for _, kv := range l.pairs(n, label) {
		if g != nil && slices.Contains(groupOnlyKeys, kv.key.Value) {
			l.errorf(kv.key, "%s: %s is not allowed on a step inside group %s (the group's foreach and maxParallel apply to its steps; groups do not nest)", label, kv.key.Value, g.ID)
		} else if slices.Contains(stepKeys, kv.key.Value) {
			keys[kv.key.Value] = kv
		} else {
			kinds = append(kinds, kv)
		}
	}
	var self *stepInfo
	st.ID, self, label = l.stepID(n, keys, i, label, "step ")
	if p, ok := keys["description"]; ok {
		st.Description, _ = l.scalarString(p.val, "description")
	}
	_, hasForeach := keys["foreach"]
	if g != nil {
		hasForeach = false
		delete(keys, "foreach")
		delete(keys, "maxParallel")
		st.Group, st.Foreach, st.MaxParallel = g, g.Foreach, g.MaxParallel
	}
	rc := refCtx{idx: i, item: hasForeach || g != nil}

	// The kind key: anything that is not a step key.
	var known []pair
	for _, kv := range kinds {
		if _, ok := l.kinds.Kind(kv.key.Value); ok {
			known = append(known, kv)
		} else {
			l.errorf(kv.key, "unknown step kind %s (%sstep keys: %s)", kv.key.Value, l.kindList(false), strings.Join(stepKeys, ", "))
		}
	}
	switch {
	case len(kinds) == 0:
		l.errorf(n, "%s: no step kind; a step needs exactly one, e.g. exec", label)
	case len(known) > 1:
		l.errorf(known[1].key, "%s: several step kinds (%s); a step has exactly one", label, keyNames(known))
	}
	if len(known) > 0 {
		kv := known[0]
		spec, _ := l.kinds.Kind(kv.key.Value)
		params, strs := l.decodeParams(kv.key.Value, kv.key, kv.val, spec)
		l.lint(kv.key.Value, kv.val)
		st.Action = Action{Kind: kv.key.Value, Params: params, Pos: l.pos(kv.key)}
		l.checkRefs(strs, rc)
		if self != nil {
			self.known = true
			if od, ok := params.(OutputDeclarer); ok {
				self.outputs = od.Outputs()
			}
		}
	}

	if p, ok := keys["foreach"]; ok {
		st.Foreach = l.foreach(p.val, refCtx{idx: i, inForeach: true})
	}
	if p, ok := keys["maxParallel"]; ok {
		if mp, ok := l.integer(p.val, "maxParallel"); ok {
			switch {
			case !hasForeach:
				l.errorf(p.key, "maxParallel only applies to a step with foreach")
			case mp < 1 || mp > MaxParallelLimit:
				l.errorf(p.val, "maxParallel must be between 1 and %d, got %d", MaxParallelLimit, mp)
			default:
				st.MaxParallel = mp
			}
		}
	}
	if p, ok := keys["when"]; ok {
		st.When = l.when(p.val, rc)
	}
	if p, ok := keys["retry"]; ok {
		l.retry(p.val, &st.Retry)
	}
	if p, ok := keys["timeout"]; ok {
		st.Timeout, _ = l.duration(p.val, "timeout")
	}
	if p, ok := keys["retry"]; ok && len(known) > 0 {
		l.lintDeadRetry(st, p.val, known[0].val)
	}
	if p, ok := keys["check"]; ok {
		var strs []strNode
		st.Check, strs = l.action(p.val, "check", false)
		l.checkRefs(strs, rc)
	}
	if p, ok := keys["undoFailed"]; ok {
		st.UndoFailed = l.boolean(p.val, "undoFailed")
		if _, hasUndo := keys["undo"]; !hasUndo && st.UndoFailed {
			l.errorf(p.key, "undoFailed needs an undo to run")
		}
	}
	if p, ok := keys["irreversible"]; ok {
		st.Irreversible, _ = l.scalarString(p.val, "irreversible")
		st.IrreversiblePos = l.pos(p.key)
		switch {
		case strings.TrimSpace(st.Irreversible) == "":
			l.errorf(p.val, "irreversible: say why the step cannot be undone (the reason is shown when a rollback is refused)")
		case keys["undo"].key != nil:
			l.errorf(p.key, "%s: an irreversible step cannot have an undo", label)
		}
	}
	if p, ok := keys["undo"]; ok {
		var strs []strNode
		st.Undo, strs = l.action(p.val, "undo", false)
		own := rc
		own.own, own.failed = true, st.UndoFailed
		l.checkRefs(strs, own)
	}
	return st
}

// when parses a condition and checks its references.
func (l *loader) when(n *yaml.Node, rc refCtx) *Condition {
	s, ok := l.scalarString(n, "when")
	if !ok {
		return nil
	}
	c, err := ParseCondition(s, l.pos(n))
	if err != nil {
		l.errorf(n, "when: %v", err)
		return nil
	}
	refs, _ := c.refs()
	for _, r := range refs {
		l.checkRef(r, c.Pos, rc)
	}
	return c
}

func keyNames(ps []pair) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.key.Value
	}
	return strings.Join(names, ", ")
}

// kindList renders "kinds: a, b; " when the registry can list them.
func (l *loader) kindList(source bool) string {
	kn, ok := l.kinds.(KindNamer)
	if !ok {
		return ""
	}
	if source {
		return "sources: " + strings.Join(kn.SourceNames(), ", ")
	}
	return "kinds: " + strings.Join(kn.KindNames(), ", ") + "; "
}

// action decodes a check, undo or foreach source: a mapping with exactly one
// kind key.
func (l *loader) action(n *yaml.Node, what string, source bool) (*Action, []strNode) {
	noun, lookup := "step kind", l.kinds.Kind
	if source {
		noun, lookup = "item source", l.kinds.Source
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s: expected a mapping with one %s, got %s", what, noun, describeNode(n))
		return nil, nil
	}
	kvs := l.pairs(n, what)
	if len(kvs) == 0 {
		l.errorf(n, "%s: no %s; expected exactly one", what, noun)
		return nil, nil
	}
	if len(kvs) > 1 {
		l.errorf(kvs[1].key, "%s: several keys (%s); expected exactly one %s", what, keyNames(kvs), noun)
	}
	key := kvs[0].key
	spec, ok := lookup(key.Value)
	if !ok {
		hint := ""
		if list := strings.TrimSuffix(l.kindList(source), "; "); list != "" {
			hint = " (" + list + ")"
		}
		l.errorf(key, "%s: unknown %s %s%s", what, noun, key.Value, hint)
		return nil, nil
	}
	params, strs := l.decodeParams(key.Value, key, kvs[0].val, spec)
	l.lint(key.Value, kvs[0].val)
	return &Action{Kind: key.Value, Params: params, Pos: l.pos(key)}, strs
}

const foreachShapes = "a list, \"${params.NAME}\" naming a list parameter, or a mapping with one item source"

func (l *loader) foreach(n *yaml.Node, rc refCtx) *Foreach {
	f := &Foreach{Pos: l.pos(n)}
	switch {
	case n.Kind == yaml.SequenceNode:
		if len(n.Content) == 0 {
			l.errorf(n, "foreach: the list is empty")
		}
		f.Items = []string{}
		first := map[string]string{}
		for _, e := range n.Content {
			if isNull(e) {
				l.errorf(e, "foreach: items must not be null")
			} else if s, ok := l.scalarString(e, "foreach item"); ok {
				if line, dup := first[s]; dup {
					l.errorf(e, "foreach: duplicate item %q (first at %s); instances are keyed by item, so each must be unique", s, line)
				} else {
					first[s] = fmt.Sprintf("%d:%d", e.Line, e.Column)
				}
				f.Items = append(f.Items, s)
				l.checkRefs([]strNode{{s, l.pos(e)}}, rc)
				l.noSecretItem(e, s)
			}
		}
	case n.Kind == yaml.ScalarNode && !isNull(n):
		segs, err := parseTemplate(n.Value)
		if err != nil || len(segs) != 1 || segs[0].ref == nil || segs[0].ref.kind != refParam {
			l.errorf(n, "foreach: a string must be exactly ${params.NAME} naming a list parameter, got %q", n.Value)
			return nil
		}
		name := segs[0].ref.name
		p := l.params[name]
		if p == nil {
			l.checkRef(segs[0].ref, l.pos(n), rc)
			return nil
		}
		if p.Type != TypeList && p.Type != "" {
			l.errorf(n, "foreach: parameter %s is a %s, not a list", name, p.Type)
			return nil
		}
		if p.Secret {
			l.errorf(n, "foreach: parameter %s is secret, and items are kept in the journal and shown in clear; iterate over a list that is not secret", name)
			return nil
		}
		f.Param = name
	case n.Kind == yaml.MappingNode:
		a, strs := l.action(n, "foreach", true)
		if a == nil {
			return nil
		}
		f.Source = a
		l.checkRefs(strs, rc)
	default:
		l.errorf(n, "foreach: expected %s, got %s", foreachShapes, describeNode(n))
		return nil
	}
	return f
}

func (l *loader) retry(n *yaml.Node, r *Retry) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "retry: expected a mapping with attempts, initialBackoff and maxBackoff, got %s", describeNode(n))
		return
	}
	m := l.strict(n, "retry", "attempts", "initialBackoff", "maxBackoff")
	if p, ok := m["attempts"]; ok {
		if a, ok := l.integer(p.val, "retry.attempts"); ok {
			if a < 1 {
				l.errorf(p.val, "retry.attempts must be at least 1 (it counts the first try), got %d", a)
			} else {
				r.Attempts = a
			}
		}
	}
	var okInit, okMax bool
	if p, ok := m["initialBackoff"]; ok {
		r.Initial, okInit = l.duration(p.val, "retry.initialBackoff")
	}
	if p, ok := m["maxBackoff"]; ok {
		r.Max, okMax = l.duration(p.val, "retry.maxBackoff")
	}
	if (okInit || okMax) && r.Initial > r.Max {
		at := m["maxBackoff"].key
		if at == nil {
			at = m["initialBackoff"].key
		}
		l.errorf(at, "retry: initialBackoff (%s) exceeds maxBackoff (%s)", r.Initial, r.Max)
	}
}

func (l *loader) integer(n *yaml.Node, what string) (int, bool) {
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		l.errorf(n, "%s: expected an integer, got %s", what, describeNode(n))
		return 0, false
	}
	return i, true
}

// duration reads a positive duration; zero and negative ones are errors.
func (l *loader) duration(n *yaml.Node, what string) (time.Duration, bool) {
	if isNull(n) {
		l.errorf(n, "%s: expected a duration such as 30s, got null", what)
		return 0, false
	}
	s, ok := l.scalarString(n, what)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		l.errorf(n, "%s: %v", what, err)
		return 0, false
	}
	if d <= 0 {
		l.errorf(n, "%s: must be positive, got %s", what, s)
		return 0, false
	}
	return d, true
}
