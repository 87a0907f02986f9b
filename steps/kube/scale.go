package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// ScaleParams are the params of kube.scale. Replicas is a string, written
// `replicas: 3`, because numeric fields are never templated and an undo
// needs `replicas: "${steps.ID.previous}"`; a string also tells an explicit
// 0 apart from a forgotten key.
type ScaleParams struct {
	Kind      string        `yaml:"kind" json:"kind,omitempty"` // default Deployment
	Name      string        `yaml:"name" json:"name"`
	Namespace string        `yaml:"namespace" json:"namespace"`
	Replicas  string        `yaml:"replicas" json:"replicas"`
	Wait      bool          `yaml:"wait" json:"wait,omitempty"`
	Timeout   time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// Outputs: previous is the replica count before the step, so that an undo
// can scale back.
func (p *ScaleParams) Outputs() []string { return []string{"previous"} }

// Validate checks the fields; the kind is resolved at run time, against
// the cluster's discovery.
func (p *ScaleParams) Validate() []playbooks.FieldError {
	var errs []playbooks.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, playbooks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if p.Name == "" {
		add("name", "is required")
	} else if msg := checkObjectName(p.Name); msg != "" {
		add("name", "%s", msg)
	}
	switch {
	case p.Namespace == "":
		add("namespace", "is required")
	case !hasRef(p.Namespace):
		if msgs := validation.IsDNS1123Label(p.Namespace); len(msgs) > 0 {
			add("namespace", "invalid namespace %q: %s", p.Namespace, strings.Join(msgs, "; "))
		}
	}
	if p.Replicas == "" {
		add("replicas", "is required: the number of replicas wanted (0 or more)")
	} else if !hasRef(p.Replicas) {
		if _, err := parseReplicas(p.Replicas); err != nil {
			add("replicas", "%v", err)
		}
	}
	if p.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	if p.Timeout > 0 && !p.Wait {
		add("timeout", "bounds the wait for the rollout: it needs wait: true")
	}
	return errs
}

type scaler struct{ cl *cluster.Clients }

type scaleTarget struct {
	p    *ScaleParams
	m    Mapping
	ref  string
	want int64
	have int64
	wait *rolloutWait // nil unless p.Wait
}

// target reads the scale subresource. A missing object and a kind without
// a scale subresource both answer 404 there; the object is read to tell
// which, since the fixes differ.
func (x *scaler) target(ctx context.Context, in steps.Instance) (*scaleTarget, error) {
	p, err := paramsOf[ScaleParams]("kube.scale", in.Params)
	if err != nil {
		return nil, err
	}
	want, err := parseReplicas(p.Replicas)
	if err != nil {
		return nil, steps.Permanent(fmt.Errorf("kube.scale: replicas: %w", err))
	}
	m := deploymentMapping
	if p.Kind != "" {
		if m, err = Resolve(ctx, x.cl.Mapper, p.Kind); err != nil {
			return nil, apiFailure(ctx, err, "kube.scale: kind %s", p.Kind)
		}
	}
	if !m.Namespaced {
		return nil, steps.Permanent(fmt.Errorf("kube.scale: %s is cluster-scoped; only namespaced kinds are supported", m.Kind))
	}
	t := &scaleTarget{p: p, m: m, ref: objRef(m, p.Namespace, p.Name), want: want}
	if p.Wait {
		sel := Selection{Names: []string{p.Name}, Namespace: p.Namespace}
		if t.wait, err = newRolloutWait(x.cl.Dynamic, m, sel, in.Report); err != nil {
			return nil, steps.Permanent(fmt.Errorf("%s: wait: true: %w", t.ref, err))
		}
		t.wait.settle = true
	}
	ri := resource(x.cl.Dynamic, m, p.Namespace)
	var sc *unstructured.Unstructured
	err = cluster.Do(ctx, func(ctx context.Context) (err error) {
		sc, err = ri.Get(ctx, p.Name, metav1.GetOptions{}, "scale")
		return err
	})
	if apierrors.IsNotFound(err) {
		if gerr := cluster.Do(ctx, func(ctx context.Context) error {
			_, err := ri.Get(ctx, p.Name, metav1.GetOptions{})
			return err
		}); gerr == nil {
			return nil, steps.Permanent(fmt.Errorf("%s: %s has no scale subresource", t.ref, m.Kind))
		}
	}
	if err != nil {
		return nil, apiFailure(ctx, err, "%s", t.ref)
	}
	t.have, _, _ = unstructured.NestedInt64(sc.Object, "spec", "replicas")
	return t, nil
}

// Check is done when the replicas already match and, with wait, the
// rollout is complete: a run killed during its wait must wait again.
func (x *scaler) Check(ctx context.Context, in steps.Instance) (bool, error) {
	t, err := x.target(ctx, in)
	if err != nil || t.have != t.want {
		return false, err
	}
	if !t.p.Wait {
		return true, nil
	}
	return t.wait.doneNow(ctx)
}

func (x *scaler) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	t, err := x.target(ctx, in)
	if err != nil {
		return steps.Result{}, err
	}
	out := map[string]string{"previous": strconv.FormatInt(t.have, 10)}
	var line string
	if t.have == t.want {
		line = fmt.Sprintf("%s: already at %d replicas", t.ref, t.want)
	} else {
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"replicas": t.want}})
		ri := resource(x.cl.Dynamic, t.m, t.p.Namespace)
		err := cluster.Do(ctx, func(ctx context.Context) error {
			_, err := ri.Patch(ctx, t.p.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
			return err
		})
		if err != nil {
			return steps.Result{}, apiFailure(ctx, err, "%s: scaling to %d replicas", t.ref, t.want)
		}
		line = fmt.Sprintf("%s: scaled from %d to %d replicas", t.ref, t.have, t.want)
		in.Report("%s", line)
	}
	if t.wait == nil {
		return steps.Result{Outputs: out, Evidence: line}, nil
	}
	if t.p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.p.Timeout)
		defer cancel()
	}
	lines, err := t.wait.run(ctx)
	if err != nil {
		return steps.Result{Outputs: out, Evidence: line}, err
	}
	return steps.Result{Outputs: out, Evidence: line + "\n" + strings.Join(lines, "\n")}, nil
}

func parseReplicas(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a replica count (an integer, 0 or more)", s)
	}
	return n, nil
}
