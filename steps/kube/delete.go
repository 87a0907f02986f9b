package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// DeleteParams are the params of kube.delete, the native form of
// `kubectl delete KIND,KIND NAME -n NS [--ignore-not-found] [--wait]`.
type DeleteParams struct {
	// Kinds may mix namespaced and cluster-scoped kinds and CRDs; the
	// namespace applies to the namespaced ones only.
	Kinds          []string `yaml:"kinds" json:"kinds"`
	Name           string   `yaml:"name" json:"name"`
	Namespace      string   `yaml:"namespace" json:"namespace,omitempty"`
	IgnoreNotFound bool     `yaml:"ignoreNotFound" json:"ignoreNotFound,omitempty"`
	// Wait watches until every deleted object is gone (finalizers done).
	Wait    bool          `yaml:"wait" json:"wait,omitempty"`
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"` // of the wait; default 5m
	// Propagation is Background (the default, as kubectl: the object goes
	// at once and the garbage collector removes its ReplicaSets and pods
	// afterwards), Foreground (the object stays, with a deletionTimestamp,
	// until its dependents are gone: with wait, the step ends only when
	// the old pods are gone too) or Orphan.
	Propagation string `yaml:"propagation" json:"propagation,omitempty"`
}

// Validate checks the shape.
func (p *DeleteParams) Validate() []playbooks.FieldError {
	var errs objFieldErrs
	if len(p.Kinds) == 0 {
		errs.add("kinds", "is required: the kinds to delete, e.g. [Service, Deployment, HorizontalPodAutoscaler, PodDisruptionBudget]")
	}
	for i, k := range p.Kinds {
		switch {
		case strings.TrimSpace(k) == "":
			errs.add(fmt.Sprintf("kinds.%d", i), "must name a kind")
		case strings.Contains(k, ","):
			// kubectl's "Service,Deployment" spelling, carried over from a
			// runbook: say how to write it rather than fail at run time.
			errs.add(fmt.Sprintf("kinds.%d", i), "list kinds separately, e.g. [%s]", strings.Join(strings.Split(k, ","), ", "))
		}
	}
	if strings.TrimSpace(p.Name) == "" {
		errs.add("name", "is required: the name of the objects to delete")
	}
	switch p.Propagation {
	case "", "Background", "Foreground", "Orphan":
	default:
		errs.add("propagation", "must be Background, Foreground or Orphan, not %q", p.Propagation)
	}
	if p.Timeout < 0 {
		errs.add("timeout", "must not be negative (default %s)", objDefaultWaitTimeout)
	}
	if p.Timeout > 0 && !p.Wait {
		errs.add("timeout", "only applies with wait: true")
	}
	return errs
}

func deleteKind(clients cluster.ClientsFunc) steps.Kind {
	return steps.Kind{
		Name:         "kube.delete",
		Summary:      "delete objects of several kinds by name, optionally ignoring absent ones and waiting until they are gone",
		NewParams:    func() any { return &DeleteParams{} },
		New:          lazy(clients, func(cl *cluster.Clients) steps.Executor { return &deleteExec{cl: cl} }),
		NeedsCluster: true,
	}
}

type deleteExec struct{ cl *cluster.Clients }

// deleteTarget is one kind's object and what was found of it.
type deleteTarget struct {
	*objTarget
	live *unstructured.Unstructured // nil when absent
}

func (d *deleteTarget) name() string { return d.m.Kind + " " + objNSName(d.ns, d.q.Name) }

// targets resolves every kind (all before deleting anything, so that a
// misspelt kind fails the step untouched) and reads each object.
func (x *deleteExec) targets(ctx context.Context, in steps.Instance) (*DeleteParams, *cluster.Clients, []*deleteTarget, error) {
	p, err := objParams[DeleteParams]("kube.delete", in.Params)
	if err != nil {
		return nil, nil, nil, err
	}
	if strings.TrimSpace(p.Name) == "" {
		return nil, nil, nil, steps.Permanent(fmt.Errorf("kube.delete: name is empty after rendering"))
	}
	cl := x.cl
	var out []*deleteTarget
	seen := map[string]bool{}
	for _, kind := range p.Kinds {
		t, err := resolveObjQuery(ctx, cl, ObjectQuery{Kind: kind, Namespace: p.Namespace, Name: p.Name})
		if err != nil {
			return nil, nil, nil, err
		}
		if seen[t.m.GVR.String()] {
			continue // "deploy" and "Deployment" are one kind
		}
		seen[t.m.GVR.String()] = true
		d := &deleteTarget{objTarget: t}
		err = cluster.Do(ctx, func(ctx context.Context) error {
			u, err := t.resource(cl).Get(ctx, p.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			d.live = u
			return err
		})
		if err != nil {
			return nil, nil, nil, objAPIErr(ctx, fmt.Errorf("reading %s: %w", d.name(), err))
		}
		out = append(out, d)
	}
	return p, cl, out, nil
}

// Run deletes. Without ignoreNotFound, a missing object fails the first
// attempt before anything is deleted, as a typo in a name should. A later
// attempt of the same instance (a retry, or a resume after cairn was
// killed) accepts a missing object instead: the earlier attempt may have
// deleted it, and failing then would turn an interrupted delete into a
// failed run.
func (x *deleteExec) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, cl, targets, err := x.targets(ctx, in)
	if err != nil {
		return steps.Result{}, err
	}
	var missing []string
	for _, d := range targets {
		if d.live == nil {
			missing = append(missing, d.name())
		}
	}
	if len(missing) > 0 && !p.IgnoreNotFound && in.Attempt <= 1 {
		return steps.Result{}, steps.Permanent(fmt.Errorf("not found: %s (nothing was deleted; set ignoreNotFound: true if absence is fine)", strings.Join(missing, ", ")))
	}
	policy := metav1.DeletePropagationBackground
	if p.Propagation != "" {
		policy = metav1.DeletionPropagation(p.Propagation)
	}
	var evidence []string
	var gone []*deleteTarget // objects to wait for
	for _, d := range targets {
		switch {
		case d.live == nil && p.IgnoreNotFound:
			evidence = append(evidence, d.name()+" already absent")
			continue
		case d.live == nil:
			evidence = append(evidence, d.name()+" absent (deleted by an earlier attempt)")
			continue
		case d.live.GetDeletionTimestamp() != nil:
			evidence = append(evidence, d.name()+" already being deleted")
		default:
			err := cluster.Do(ctx, func(ctx context.Context) error {
				return d.resource(cl).Delete(ctx, d.q.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
			})
			switch {
			case apierrors.IsNotFound(err):
				evidence = append(evidence, d.name()+" vanished before it was deleted")
				continue
			case err != nil:
				return steps.Result{}, objAPIErr(ctx, fmt.Errorf("deleting %s: %w (deleted so far: %s)", d.name(), err, objOrNone(evidence)))
			}
			evidence = append(evidence, "deleted "+d.name())
			in.Report("deleted %s", d.name())
		}
		gone = append(gone, d)
	}
	if p.Wait {
		if err := x.waitGone(ctx, cl, p, gone, in); err != nil {
			return steps.Result{}, fmt.Errorf("%w (%s)", err, strings.Join(evidence, "; "))
		}
		if len(gone) > 0 {
			evidence = append(evidence, "waited until gone")
		}
	}
	return steps.Result{Evidence: strings.Join(evidence, "; ")}, nil
}

func objOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "; ")
}

// waitGone watches each object until no object with the deleted one's UID
// is left, so that a controller re-creating an object under the same name
// does not keep the step waiting until its timeout.
func (x *deleteExec) waitGone(ctx context.Context, cl *cluster.Clients, p *DeleteParams, gone []*deleteTarget, in steps.Instance) error {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = objDefaultWaitTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, d := range gone {
		uid := d.live.GetUID()
		eval := func(objs []*unstructured.Unstructured) objVerdict {
			for _, u := range objs {
				if u.GetUID() == uid {
					return objVerdict{summary: objWaitingFor(d.name(), u, uid)}
				}
			}
			return objVerdict{done: true, summary: d.name() + " is gone"}
		}
		v, err := watchObjs(wctx, cl, d.objTarget, eval, func(s string) { in.Report("%s", s) })
		if err != nil || !v.done {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("timed out after %s waiting for deletion: %s", timeout, v.summary)
		}
	}
	return nil
}

func objWaitingFor(name string, u *unstructured.Unstructured, uid types.UID) string {
	s := "waiting for " + name + " (uid " + string(uid) + ") to go"
	if f := u.GetFinalizers(); len(f) > 0 {
		s += "; finalizers: " + strings.Join(f, ", ")
	}
	return s
}

// Check is done when every object is absent. Without wait, one that is
// being deleted (its deletionTimestamp set, finalizers pending) counts as
// done, as it would have after Run.
func (x *deleteExec) Check(ctx context.Context, in steps.Instance) (bool, error) {
	p, _, targets, err := x.targets(ctx, in)
	if err != nil {
		return false, err
	}
	for _, d := range targets {
		if d.live != nil && (p.Wait || d.live.GetDeletionTimestamp() == nil) {
			return false, nil
		}
	}
	return true, nil
}
