package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// UndoParams are the params of kube.rolloutUndo. ToRevision 0 means the
// revision before the current one, as with `kubectl rollout undo`.
type UndoParams struct {
	Name       string `yaml:"name" json:"name"`
	Namespace  string `yaml:"namespace" json:"namespace"`
	ToRevision int64  `yaml:"toRevision" json:"toRevision,omitempty"`
}

// Validate checks the names and the revision.
func (p *UndoParams) Validate() []playbooks.FieldError {
	var errs []playbooks.FieldError
	if p.Name == "" {
		errs = append(errs, playbooks.FieldError{Field: "name", Msg: "is required: the Deployment to roll back"})
	} else if msg := checkObjectName(p.Name); msg != "" {
		errs = append(errs, playbooks.FieldError{Field: "name", Msg: msg})
	}
	switch {
	case p.Namespace == "":
		errs = append(errs, playbooks.FieldError{Field: "namespace", Msg: "is required"})
	case !hasRef(p.Namespace):
		if msgs := validation.IsDNS1123Label(p.Namespace); len(msgs) > 0 {
			errs = append(errs, playbooks.FieldError{Field: "namespace", Msg: fmt.Sprintf("invalid namespace %q: %s", p.Namespace, strings.Join(msgs, "; "))})
		}
	}
	if p.ToRevision < 0 {
		errs = append(errs, playbooks.FieldError{Field: "toRevision", Msg: "must be a revision number (1, 2, ...), or 0 for the previous revision"})
	}
	return errs
}

// undoMarkerKey records which instance a rollback belongs to.
//
// Rolling back to "the previous revision" is not idempotent: after it, the
// old template becomes the newest revision and "previous" points at the
// template just left, so a resumed run repeating the step would flip back.
// Run therefore first writes this instance's identity on the target
// ReplicaSet. kubectl's rollbacker copies the ReplicaSet's annotations onto
// the Deployment in the same patch that restores the template, so the
// Deployment carries the marker exactly when the rollback has happened:
// that is Check. A resume after a kill between marking and rolling back
// finds the marked ReplicaSet and rolls back to it, not to whatever
// "previous" means by then.
const undoMarkerKey = "cairn.dev/rolled-back-by"

func undoMarker(in steps.Instance) string {
	return fmt.Sprintf("run=%s step=%s item=%s token=%s", in.RunID, in.StepID, in.Item, in.Token)
}

type undoer struct{ cl *cluster.Clients }

func (x *undoer) deployment(ctx context.Context, p *UndoParams) (*appsv1.Deployment, error) {
	var d *appsv1.Deployment
	err := cluster.Do(ctx, func(ctx context.Context) (err error) {
		d, err = x.cl.Kube.AppsV1().Deployments(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		return err
	})
	return d, apiFailure(ctx, err, "%s", objRef(deploymentMapping, p.Namespace, p.Name))
}

// Check is done when the Deployment carries this instance's marker.
func (x *undoer) Check(ctx context.Context, in steps.Instance) (bool, error) {
	p, err := paramsOf[UndoParams]("kube.rolloutUndo", in.Params)
	if err != nil {
		return false, err
	}
	d, err := x.deployment(ctx, p)
	if err != nil {
		return false, err
	}
	return d.Annotations[undoMarkerKey] == undoMarker(in), nil
}

func (x *undoer) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, err := paramsOf[UndoParams]("kube.rolloutUndo", in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	ref := objRef(deploymentMapping, p.Namespace, p.Name)
	marker := undoMarker(in)
	d, err := x.deployment(ctx, p)
	if err != nil {
		return steps.Result{}, err
	}
	if d.Annotations[undoMarkerKey] == marker {
		return steps.Result{Evidence: ref + ": already rolled back by this step"}, nil
	}
	cur, _ := deploymentutil.Revision(d)
	if d.Spec.Paused {
		return steps.Result{}, steps.Permanent(fmt.Errorf("%s is paused: resume it first (kubectl rollout resume), then roll back", ref))
	}
	rss, err := x.replicaSets(ctx, d)
	if err != nil {
		return steps.Result{}, err
	}
	target, rev, err := pickTarget(ref, rss, cur, p.ToRevision, marker)
	if err != nil {
		return steps.Result{}, err
	}
	if equalIgnoreHash(&target.Spec.Template, &d.Spec.Template) {
		return steps.Result{Evidence: fmt.Sprintf("%s: already runs the template of revision %d (ReplicaSet %s); nothing to roll back", ref, rev, target.Name)}, nil
	}
	if target.Annotations[undoMarkerKey] != marker {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{undoMarkerKey: marker}}})
		err := cluster.Do(ctx, func(ctx context.Context) error {
			_, err := x.cl.Kube.AppsV1().ReplicaSets(p.Namespace).Patch(ctx, target.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return steps.Result{}, apiFailure(ctx, err, "%s: marking ReplicaSet %s as the rollback target", ref, target.Name)
		}
	}
	in.Report("rolling %s back from revision %d to revision %d", shortRef(deploymentMapping, p.Name), cur, rev)
	var msg string
	err = cluster.Do(ctx, func(ctx context.Context) error {
		rec := &errRecorder{}
		rb, err := polymorphichelpers.RollbackerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, ctxKube{Interface: x.cl.Kube, ctx: ctx, rec: rec})
		if err != nil {
			return steps.Permanent(err)
		}
		msg, err = rb.Rollback(d, nil, rev, cmdutil.DryRunNone)
		if err != nil && rec.get() != nil {
			return &causedError{msg: err.Error(), cause: rec.get()}
		}
		return err
	})
	if err != nil {
		return steps.Result{}, apiFailure(ctx, err, "%s: rolling back to revision %d", ref, rev)
	}
	if !strings.HasPrefix(msg, "rolled back") {
		// kubectl found the template already in place (a concurrent undo).
		return steps.Result{Evidence: ref + ": " + msg}, nil
	}
	return steps.Result{Evidence: fmt.Sprintf("%s: rolled back from revision %d to the template of revision %d (ReplicaSet %s), which becomes the newest revision",
		ref, cur, rev, target.Name)}, nil
}

// replicaSets lists the ReplicaSets the Deployment controls, as kubectl does.
func (x *undoer) replicaSets(ctx context.Context, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	ref := objRef(deploymentMapping, d.Namespace, d.Name)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, steps.Permanent(fmt.Errorf("%s: invalid selector: %w", ref, err))
	}
	var list *appsv1.ReplicaSetList
	err = cluster.Do(ctx, func(ctx context.Context) (err error) {
		list, err = x.cl.Kube.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		return err
	})
	if err != nil {
		return nil, apiFailure(ctx, err, "%s: listing its ReplicaSets", ref)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			out = append(out, rs)
		}
	}
	return out, nil
}

// pickTarget chooses the ReplicaSet to roll back to: one marked by an
// earlier attempt of this instance, else revision toRev, else the newest
// revision below the current one.
func pickTarget(ref string, rss []appsv1.ReplicaSet, cur, toRev int64, marker string) (*appsv1.ReplicaSet, int64, error) {
	type revRS struct {
		rev int64
		rs  *appsv1.ReplicaSet
	}
	var all []revRS
	for i := range rss {
		rev, err := deploymentutil.Revision(&rss[i])
		if err != nil {
			continue
		}
		if rss[i].Annotations[undoMarkerKey] == marker {
			return &rss[i], rev, nil
		}
		all = append(all, revRS{rev, &rss[i]})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].rev > all[j].rev })
	revs := make([]string, len(all))
	for i, r := range all {
		revs[i] = fmt.Sprint(r.rev)
	}
	have := strings.Join(revs, ", ")
	if have == "" {
		have = "none"
	}
	if toRev > 0 {
		for _, r := range all {
			if r.rev == toRev {
				return r.rs, r.rev, nil
			}
		}
		return nil, 0, steps.Permanent(fmt.Errorf("%s: no revision %d to roll back to (revisions kept: %s)", ref, toRev, have))
	}
	// kubectl's "previous": the second-highest revision kept, whatever the
	// Deployment's own revision annotation says.
	if len(all) >= 2 {
		return all[1].rs, all[1].rev, nil
	}
	return nil, 0, steps.Permanent(fmt.Errorf("%s: no previous revision to roll back to (current revision %d; revisions kept: %s)", ref, cur, have))
}

// equalIgnoreHash is kubectl's comparison: the controller adds the
// pod-template-hash label to ReplicaSet templates only.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return apiequality.Semantic.DeepEqual(a, b)
}
