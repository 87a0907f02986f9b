package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
)

// Test step kinds. They record every call so tests can count side effects.

type touchParams struct {
	Value string `yaml:"value"`
	// FailTimes makes the first N calls per instance fail (retryable).
	FailTimes int  `yaml:"failTimes"`
	Permanent bool `yaml:"permanent"`
	// Block makes Run wait for ctx, to test timeouts and interrupts.
	Block bool `yaml:"block"`
	// Hold makes Run wait on the test's hold channel, to test parallelism.
	Hold bool `yaml:"hold"`
	// FailItem makes every call for that item fail for good.
	FailItem string `yaml:"failItem"`
}

func (p *touchParams) Outputs() []string { return []string{"value"} }

type gateParams struct {
	Message string `yaml:"message"`
}

func (p *gateParams) Outputs() []string   { return []string{"approver", "comment"} }
func (p *gateParams) GateMessage() string { return p.Message }
func (gateParams) NewParams() any         { return &gateParams{} }
func (touchParams) NewParams() any        { return &touchParams{} }
func (listParams) NewParams() any         { return &listParams{} }
func (p *checkParams) Outputs() []string  { return []string{"value"} }
func (checkParams) NewParams() any        { return &checkParams{} }
func (p *listParams) Items() []string     { return p.List }
func (k *testKinds) Kind(n string) (playbooks.KindSpec, bool) {
	switch n {
	case "touch", "undo":
		return touchParams{}, true
	case "gate":
		return gateParams{}, true
	case "probe":
		return checkParams{}, true
	}
	return nil, false
}

type listParams struct {
	List []string `yaml:"list"`
}

type checkParams struct {
	Done bool `yaml:"done"`
}

// testKinds is both the loader's registry and the engine's executor source.
type testKinds struct {
	mu      sync.Mutex
	calls   []string // "kind|value|item|token"
	tries   map[string]int
	hold    chan struct{}
	running atomic.Int32
	peak    atomic.Int32
	// crashAt makes the n-th call of touch cancel the run, as a signal would.
	cancel  context.CancelFunc
	crashAt int
}

func newTestKinds() *testKinds { return &testKinds{tries: map[string]int{}} }

func (k *testKinds) Source(n string) (playbooks.KindSpec, bool) {
	if n == "list" {
		return listParams{}, true
	}
	return nil, false
}

type kindExec struct {
	k    *testKinds
	kind string
}

func (k *testKinds) Executor(kind string) (steps.Executor, error) {
	if _, ok := k.Kind(kind); !ok {
		if _, ok := k.Source(kind); !ok {
			return nil, fmt.Errorf("no kind %s", kind)
		}
	}
	return kindExec{k, kind}, nil
}

func (e kindExec) Items(_ context.Context, p any) ([]string, error) {
	return p.(*listParams).List, nil
}

func (e kindExec) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	switch p := in.Params.(type) {
	case *gateParams:
		return steps.Result{}, steps.ErrAwaitApproval
	case *checkParams:
		if p.Done {
			return steps.Result{Outputs: map[string]string{"value": "from-check"}, Evidence: "in place"}, nil
		}
		return steps.Result{}, errors.New("not in place")
	case *touchParams:
		return e.k.touch(ctx, e.kind, in, p)
	}
	return steps.Result{}, fmt.Errorf("unexpected params %T", in.Params)
}

func (k *testKinds) touch(ctx context.Context, kind string, in steps.Instance, p *touchParams) (steps.Result, error) {
	k.mu.Lock()
	k.calls = append(k.calls, fmt.Sprintf("%s|%s|%s|%s", kind, p.Value, in.Item, in.Token))
	n := len(k.calls)
	key := in.StepID + "/" + in.Item
	k.tries[key]++
	try := k.tries[key]
	k.mu.Unlock()
	if k.crashAt > 0 && n == k.crashAt {
		k.cancel()
		<-ctx.Done()
		return steps.Result{}, ctx.Err()
	}
	if p.Hold {
		cur := k.running.Add(1)
		for {
			old := k.peak.Load()
			if cur <= old || k.peak.CompareAndSwap(old, cur) {
				break
			}
		}
		select {
		case <-k.hold:
		case <-time.After(200 * time.Millisecond):
		}
		k.running.Add(-1)
	}
	if p.Block {
		<-ctx.Done()
		return steps.Result{}, ctx.Err()
	}
	if p.FailItem != "" && p.FailItem == in.Item {
		return steps.Result{}, steps.Permanent(fmt.Errorf("fails for item %s", in.Item))
	}
	if try <= p.FailTimes {
		err := fmt.Errorf("flaky failure %d", try)
		if p.Permanent {
			return steps.Result{}, steps.Permanent(err)
		}
		return steps.Result{}, err
	}
	return steps.Result{Outputs: map[string]string{"value": p.Value}, Evidence: "touched " + p.Value}, nil
}

func (k *testKinds) Calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.calls...)
}
