package steps

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/playbooks"
)

// Kind describes one step kind.
type Kind struct {
	Name      string
	Summary   string     // one line, for `cairn playbooks kinds` and docs
	NewParams func() any // a pointer to a zero params struct
	// New builds the executor. It is called lazily, the first time a step of
	// this kind runs, so that `validate` and `plan` never create cluster
	// clients.
	New func() (Executor, error)
	// NeedsCluster says that the kind talks to the run's Kubernetes
	// cluster, so a run using it must connect (and record the cluster)
	// before anything runs.
	NeedsCluster bool
	// ReadOnly says that the kind has no side effect (it reads, waits or
	// asserts), so nothing needs to be durable before it runs.
	ReadOnly bool
	// Diffs says that its executor is a Differ: `cairn plan --diff` asks it
	// what a step would change.
	Diffs bool
}

// Deps are what the built-in kinds are built from. Nothing in this package
// reaches for globals, so tests can build a registry with fakes.
type Deps struct {
	Logger zerolog.Logger
	Now    func() time.Time
	// ExecWaitDelay bounds how long exec keeps reading output after its
	// process exited or was killed; 0 means 3s.
	ExecWaitDelay time.Duration
}

func (d Deps) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// Registry names the step kinds and item sources. Kinds and sources share one
// namespace so that Executor(name) is never ambiguous.
type Registry struct {
	mu      sync.RWMutex
	entries map[string]*entry
}

type entry struct {
	kind   Kind
	source bool
	mu     sync.Mutex // held while New runs, so that it runs once at a time
	exec   Executor
}

// NewRegistry returns a registry holding every kind cairn has.
func NewRegistry(deps Deps) *Registry {
	r := &Registry{entries: map[string]*entry{}}
	for _, k := range []Kind{execKind(deps), gateKind(), assertKind()} {
		if err := r.Add(k); err != nil {
			// The list is fixed at compile time: a clash is a bug that every
			// test building a registry trips over.
			panic(err)
		}
	}
	return r
}

// Add registers a step kind. It fails if the name is already taken.
func (r *Registry) Add(k Kind) error { return r.add(k, false) }

// AddSource registers an item source. Its executor must implement ItemSource.
func (r *Registry) AddSource(k Kind) error { return r.add(k, true) }

func (r *Registry) add(k Kind, source bool) error {
	switch {
	case k.Name == "":
		return errors.New("register kind: empty name")
	case k.NewParams == nil:
		return fmt.Errorf("register kind %s: NewParams is nil", k.Name)
	case k.New == nil:
		return fmt.Errorf("register kind %s: New is nil", k.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries == nil {
		r.entries = map[string]*entry{}
	}
	if old, ok := r.entries[k.Name]; ok {
		return fmt.Errorf("register kind %s: already registered as %s", k.Name, describeEntry(old))
	}
	r.entries[k.Name] = &entry{kind: k, source: source}
	return nil
}

func describeEntry(e *entry) string {
	if e.source {
		return "an item source"
	}
	return "a step kind"
}

// kindSpec adapts Kind to playbooks.KindSpec, whose method name clashes with
// Kind's field.
type kindSpec struct{ newParams func() any }

func (s kindSpec) NewParams() any { return s.newParams() }

func (r *Registry) lookup(name string, source bool) (playbooks.KindSpec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[name]
	if !ok || e.source != source {
		return nil, false
	}
	return kindSpec{e.kind.NewParams}, true
}

// Kind looks up a step kind; it makes Registry a playbooks.KindRegistry.
func (r *Registry) Kind(name string) (playbooks.KindSpec, bool) { return r.lookup(name, false) }

// Source looks up an item source usable under foreach.
func (r *Registry) Source(name string) (playbooks.KindSpec, bool) { return r.lookup(name, true) }

// Executor returns the executor of a kind or source, building it on first
// use. A failed build is not remembered: the cause may be transient (a
// cluster that was unreachable a moment ago), and a resume in the same
// process should get another chance.
func (r *Registry) Executor(name string) (Executor, error) {
	r.mu.RLock()
	e, ok := r.entries[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown step kind %q", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exec != nil {
		return e.exec, nil
	}
	ex, err := e.kind.New()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if ex == nil {
		return nil, fmt.Errorf("%s: New returned no executor (a bug in the kind)", name)
	}
	if _, ok := ex.(Differ); e.kind.Diffs && !ok {
		return nil, fmt.Errorf("%s: executor %T cannot diff (a bug in the kind)", name, ex)
	}
	if _, ok := ex.(ItemSource); e.source && !ok {
		return nil, fmt.Errorf("%s: executor %T cannot produce items (a bug in the kind)", name, ex)
	}
	e.exec = ex
	return ex, nil
}

// NeedsCluster tells whether the kind or source name talks to the cluster.
func (r *Registry) NeedsCluster(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[name]
	return ok && e.kind.NeedsCluster
}

// Diffs tells whether the kind name can show what a step would change.
func (r *Registry) Diffs(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[name]
	return ok && e.kind.Diffs
}

// ReadOnly tells whether the kind name has no side effect.
func (r *Registry) ReadOnly(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[name]
	return ok && e.kind.ReadOnly
}

// Kinds returns the step kinds sorted by name, for docs.
func (r *Registry) Kinds() []Kind { return r.list(false) }

// Sources returns the item sources sorted by name, for docs.
func (r *Registry) Sources() []Kind { return r.list(true) }

// KindNames and SourceNames let the loader list alternatives to a misspelt
// kind (playbooks.KindNamer).
func (r *Registry) KindNames() []string { return names(r.list(false)) }

// SourceNames lists the item sources' names, sorted.
func (r *Registry) SourceNames() []string { return names(r.list(true)) }

func (r *Registry) list(source bool) []Kind {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Kind
	for _, e := range r.entries {
		if e.source == source {
			out = append(out, e.kind)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func names(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}
