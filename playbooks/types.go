// Package playbooks loads, validates and renders cairn playbooks.
//
// A playbook is decoded from yaml.Node trees rather than straight into
// structs so that every problem can be reported with file:line:col, and so
// that all problems are collected instead of stopping at the first.
package playbooks

import (
	"fmt"
	"regexp"
	"time"
)

// APIVersion and Kind are the only header values this version understands.
const (
	APIVersion = "cairn/v1"
	Kind       = "Playbook"
)

// Pos locates a node in a playbook file. Line and Col are 1-based.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	if p.Col == 0 {
		// yaml.v3 syntax errors carry a line but no column.
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// ParamType is the declared type of a playbook parameter.
type ParamType string

const (
	TypeString   ParamType = "string"
	TypeInt      ParamType = "int"
	TypeBool     ParamType = "bool"
	TypeList     ParamType = "list"
	TypeDuration ParamType = "duration"
)

// Param is one declared parameter. Default holds a typed value (see Values).
type Param struct {
	Name        string
	Type        ParamType
	Description string
	Required    bool
	Default     any
	Secret      bool
	Enum        []string
	Pattern     *regexp.Regexp
	Pos         Pos
}

// MaxParallelLimit caps maxParallel: each running instance holds a
// goroutine, API watches and perhaps a process; a cluster upgrade gains
// nothing from more at once, and a typo (1e9) must not exhaust memory.
const MaxParallelLimit = 64

// Playbook is a validated playbook. Source is the exact text that was loaded;
// Digest is the hex sha256 of Source, recorded by runs so that resume can
// refuse a playbook that changed underneath it.
type Playbook struct {
	Name        string
	Description string
	Params      []*Param
	Steps       []*Step
	File        string
	Source      []byte
	Digest      string
	// ClusterRefs is set when a step uses ${cluster.kubeconfig} or
	// ${cluster.context}: a run of it must be bound to a cluster.
	ClusterRefs bool
	// Warnings are things valid but likely wrong (a reference spliced into
	// a shell script), with their positions; validate prints them.
	Warnings Errors
}

// Kinds lists every step kind and item source the playbook uses, in steps,
// checks, undos and foreach sources, each once, in order of appearance.
func (pb *Playbook) Kinds() []string {
	var out []string
	seen := map[string]bool{}
	add := func(a *Action) {
		if a != nil && a.Kind != "" && !seen[a.Kind] {
			seen[a.Kind] = true
			out = append(out, a.Kind)
		}
	}
	for _, st := range pb.Steps {
		add(&st.Action)
		add(st.Check)
		add(st.Undo)
		if st.Foreach != nil {
			add(st.Foreach.Source)
		}
	}
	return out
}

// Action is one kind key with its typed, strictly decoded params. Params is
// the pointer returned by the kind's NewParams, filled from YAML; string
// fields in it may hold ${...} references that are rendered at run time.
type Action struct {
	Kind   string
	Params any
	Pos    Pos
}

// Step is one ordered step of a playbook.
type Step struct {
	ID          string
	Description string
	Action
	Foreach     *Foreach
	MaxParallel int // >= 1 after loading
	When        *Condition
	Retry       Retry
	Timeout     time.Duration // 0 means no per-step timeout
	Check       *Action
	Undo        *Action
	// UndoFailed makes rollback run Undo for an instance that failed or
	// was interrupted too, not only for one that succeeded: an install
	// that fails half way leaves half a control plane behind.
	UndoFailed bool
	// Irreversible, when set, says why the step cannot be undone (deleting
	// the old control plane, bmctl upgrade cluster): it is a point of no
	// return. An unconditional gate must come before it, and a run that has
	// started it cannot be rolled back.
	Irreversible    string
	IrreversiblePos Pos
	// Group is the group this step belongs to, or nil. A grouped step's
	// Foreach and MaxParallel are its group's, so whatever treats foreach
	// steps (scopes, per-item outputs, plans) treats it alike.
	Group *Group
	Pos   Pos
}

// Group runs its steps item-major: for each item of Foreach (at most
// MaxParallel items at once), its steps in order, the next one only after
// the previous succeeded or was skipped. Its steps are also in
// Playbook.Steps, in order and next to each other; the group itself has no
// entry there, no kind and no outputs. The item list is frozen in the
// journal under the group's ID.
type Group struct {
	ID          string
	Description string
	Foreach     *Foreach
	MaxParallel int        // >= 1 after loading
	When        *Condition // evaluated per item, before each step's own when
	Steps       []*Step
	Pos         Pos
}

// ItemsID is the id under which the step's foreach items are frozen: its
// group's for a grouped step, else its own.
func (s *Step) ItemsID() string {
	if s.Group != nil {
		return s.Group.ID
	}
	return s.ID
}

// Foreach says where a step's items come from. Exactly one field is set.
// The item list is frozen in the journal the first time it is expanded.
type Foreach struct {
	Items  []string // a literal list; entries may hold ${...} references
	Param  string   // the name of a list parameter
	Source *Action  // a registered item source, e.g. a cluster query
	Pos    Pos
}

// Retry controls re-attempts of a failed instance. Attempts counts the first
// try, so Attempts: 1 (the default) means no retry.
type Retry struct {
	Attempts int
	Initial  time.Duration
	Max      time.Duration
}

// KindSpec describes a step kind (or item source) for the loader.
type KindSpec interface {
	// NewParams returns a pointer to a zero value of the kind's params struct.
	NewParams() any
}

// KindRegistry is what the loader needs to know about step kinds.
type KindRegistry interface {
	// Kind looks up a step kind usable as a step, check or undo action.
	Kind(name string) (KindSpec, bool)
	// Source looks up an item source usable under foreach.
	Source(name string) (KindSpec, bool)
}

// KindNamer may be implemented by a KindRegistry so that "unknown kind"
// errors can list the alternatives.
type KindNamer interface {
	KindNames() []string
	SourceNames() []string
}

// FieldError is a problem found by a params struct's own validation. Field is
// the yaml path below the params mapping, e.g. "argv" or "outputs.rev.regex".
type FieldError struct {
	Field string
	Msg   string
}

// Validator is implemented by params structs that check themselves beyond
// what strict decoding already guarantees.
type Validator interface {
	Validate() []FieldError
}

// OutputDeclarer is implemented by params structs whose step publishes named
// outputs; later steps may reference them as ${steps.ID.NAME}.
type OutputDeclarer interface {
	Outputs() []string
}
