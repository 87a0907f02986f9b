package steps

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
)

var (
	_ playbooks.KindRegistry   = (*Registry)(nil)
	_ playbooks.KindNamer      = (*Registry)(nil)
	_ playbooks.Validator      = (*ExecParams)(nil)
	_ playbooks.Validator      = (*GateParams)(nil)
	_ playbooks.Validator      = (*AssertParams)(nil)
	_ playbooks.OutputDeclarer = (*ExecParams)(nil)
	_ playbooks.OutputDeclarer = (*GateParams)(nil)
)

type fakeExec struct{}

func (fakeExec) Run(context.Context, Instance) (Result, error) { return Result{}, nil }

type fakeSource struct{ fakeExec }

func (fakeSource) Items(context.Context, any) ([]string, error) { return []string{"a"}, nil }

func fakeKind(name string, ex Executor) Kind {
	return Kind{Name: name, NewParams: func() any { return &struct{}{} }, New: func() (Executor, error) { return ex, nil }}
}

func TestNewRegistryKinds(t *testing.T) {
	r := NewRegistry(Deps{})
	if got := r.KindNames(); !reflect.DeepEqual(got, []string{"assert", "exec", "gate"}) {
		t.Errorf("KindNames() = %v", got)
	}
	if got := r.SourceNames(); len(got) != 0 {
		t.Errorf("SourceNames() = %v", got)
	}
	for _, k := range r.Kinds() {
		if k.Summary == "" {
			t.Errorf("kind %s has no summary", k.Name)
		}
	}
	want := map[string]any{"exec": &ExecParams{}, "gate": &GateParams{}, "assert": &AssertParams{}}
	for name, zero := range want {
		spec, ok := r.Kind(name)
		if !ok {
			t.Fatalf("Kind(%s) not found", name)
		}
		a, b := spec.NewParams(), spec.NewParams()
		if !reflect.DeepEqual(a, zero) || a == b {
			t.Errorf("Kind(%s).NewParams() = %#v; want a fresh %T each call", name, a, zero)
		}
		if _, ok := r.Source(name); ok {
			t.Errorf("Source(%s) found a step kind", name)
		}
	}
	if _, ok := r.Kind("nope"); ok {
		t.Error("Kind(nope) found")
	}
	if _, err := r.Executor("nope"); err == nil || !strings.Contains(err.Error(), `unknown step kind "nope"`) {
		t.Errorf("Executor(nope) error = %v", err)
	}
}

func TestRegistryAddErrors(t *testing.T) {
	r := NewRegistry(Deps{})
	if err := r.Add(fakeKind("exec", fakeExec{})); err == nil || !strings.Contains(err.Error(), "exec: already registered as a step kind") {
		t.Errorf("duplicate Add: %v", err)
	}
	if err := r.AddSource(fakeKind("gate", fakeSource{})); err == nil {
		t.Error("AddSource with a step kind's name succeeded")
	}
	if err := r.AddSource(fakeKind("namespaces", fakeSource{})); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(fakeKind("namespaces", fakeExec{})); err == nil || !strings.Contains(err.Error(), "already registered as an item source") {
		t.Errorf("Add over a source: %v", err)
	}
	if _, ok := r.Source("namespaces"); !ok {
		t.Error("Source(namespaces) not found")
	}
	if got := r.SourceNames(); !reflect.DeepEqual(got, []string{"namespaces"}) {
		t.Errorf("SourceNames() = %v", got)
	}
	for _, k := range []Kind{{}, {Name: "x", New: fakeKind("", nil).New}, {Name: "x", NewParams: func() any { return nil }}} {
		if err := r.Add(k); err == nil {
			t.Errorf("Add(%+v) succeeded", k)
		}
	}
	// A source whose executor cannot produce items is a bug, reported on build.
	if err := r.AddSource(fakeKind("broken", fakeExec{})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Executor("broken"); err == nil || !strings.Contains(err.Error(), "cannot produce items") {
		t.Errorf("Executor(broken) error = %v", err)
	}
}

func TestRegistryBuildsLazilyOnce(t *testing.T) {
	r := &Registry{}
	var calls atomic.Int32
	err := r.Add(Kind{Name: "slow", NewParams: func() any { return &struct{}{} }, New: func() (Executor, error) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		return &fakeExec{}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Kind("slow"); !ok || calls.Load() != 0 {
		t.Fatalf("lookup built the executor (calls=%d)", calls.Load())
	}
	var wg sync.WaitGroup
	got := make([]Executor, 32)
	for i := range got {
		wg.Go(func() {
			ex, err := r.Executor("slow")
			if err != nil {
				t.Error(err)
			}
			got[i] = ex
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("New called %d times, want 1", calls.Load())
	}
	for _, ex := range got {
		if ex != got[0] {
			t.Fatal("Executor returned different executors")
		}
	}
}

func TestRegistryRetriesFailedBuild(t *testing.T) {
	r := &Registry{}
	fail := true
	_ = r.Add(Kind{Name: "k", NewParams: func() any { return &struct{}{} }, New: func() (Executor, error) {
		if fail {
			return nil, errors.New("cluster unreachable")
		}
		return fakeExec{}, nil
	}})
	if _, err := r.Executor("k"); err == nil || err.Error() != "k: cluster unreachable" {
		t.Errorf("first build error = %v", err)
	}
	fail = false
	if _, err := r.Executor("k"); err != nil {
		t.Errorf("second build: %v", err)
	}
}

func TestKindDeclarations(t *testing.T) {
	r := NewRegistry(Deps{})
	if err := r.Add(Kind{Name: "k", NewParams: func() any { return &struct{}{} }, New: func() (Executor, error) { return fakeExec{}, nil }, NeedsCluster: true}); err != nil {
		t.Fatal(err)
	}
	if !r.NeedsCluster("k") || r.NeedsCluster("exec") || r.NeedsCluster("nosuch") {
		t.Errorf("NeedsCluster: k=%v exec=%v nosuch=%v", r.NeedsCluster("k"), r.NeedsCluster("exec"), r.NeedsCluster("nosuch"))
	}
	if !r.ReadOnly("assert") || !r.ReadOnly("gate") || r.ReadOnly("exec") || r.ReadOnly("k") {
		t.Errorf("ReadOnly: assert=%v gate=%v exec=%v k=%v", r.ReadOnly("assert"), r.ReadOnly("gate"), r.ReadOnly("exec"), r.ReadOnly("k"))
	}
}
