package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// restartedAtKey is the pod-template annotation `kubectl rollout restart`
// sets; changing it makes the Deployment controller replace every pod.
const restartedAtKey = "kubectl.kubernetes.io/restartedAt"

// RestartParams are the params of kube.rolloutRestart.
type RestartParams struct {
	Selection `yaml:",inline"`
	// Wait makes the step `kubectl rollout restart` and `kubectl rollout
	// status` in one: under a foreach with maxParallel 1, namespaces are
	// then restarted and rolled out one at a time, as the seeds do, rather
	// than all restarted back to back. Timeout bounds the wait.
	Wait    bool          `yaml:"wait" json:"wait,omitempty"`
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// Validate checks the selection and the wait.
func (p *RestartParams) Validate() []playbooks.FieldError {
	errs := p.validate()
	if p.Timeout < 0 {
		errs = append(errs, playbooks.FieldError{Field: "timeout", Msg: "must not be negative"})
	}
	if p.Timeout > 0 && !p.Wait {
		errs = append(errs, playbooks.FieldError{Field: "timeout", Msg: "bounds the wait: set wait: true, or drop it"})
	}
	return errs
}

type restarter struct{ cl *cluster.Clients }

func restartedAt(obj *unstructured.Unstructured) string {
	v, _, _ := unstructured.NestedString(obj.Object, "spec", "template", "metadata", "annotations", restartedAtKey)
	return v
}

// Check is done when every selected Deployment carries this instance's
// token as restartedAt: the engine reuses the token on resume, so only a
// restart made by this instance matches.
func (x *restarter) Check(ctx context.Context, in steps.Instance) (bool, error) {
	p, err := paramsOf[RestartParams]("kube.rolloutRestart", in.Params)
	if err != nil {
		return false, err
	}
	objs, err := selectObjects(ctx, x.cl.Dynamic, deploymentMapping, p.Selection)
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		if restartedAt(o) != in.Token {
			return false, nil
		}
	}
	if !p.Wait {
		return true, nil
	}
	return rolledOutNow(ctx, x.cl, p.Selection)
}

// Run stamps restartedAt = in.Token into each pod template. Because the
// token is journaled before the first attempt and reused afterwards, a
// repeated patch leaves the template unchanged, and the controller creates
// no second ReplicaSet.
func (x *restarter) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, err := paramsOf[RestartParams]("kube.rolloutRestart", in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	if in.Token == "" {
		return steps.Result{}, steps.Permanent(fmt.Errorf("kube.rolloutRestart: the instance has no token (a bug in the engine)"))
	}
	objs, err := selectObjects(ctx, x.cl.Dynamic, deploymentMapping, p.Selection)
	if err != nil {
		return steps.Result{}, err
	}
	ri := resource(x.cl.Dynamic, deploymentMapping, p.Namespace)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{restartedAtKey: in.Token}}}}})
	var lines []string
	fail := func(err error) (steps.Result, error) {
		return steps.Result{Evidence: strings.Join(lines, "\n")}, err
	}
	for i, o := range objs {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		ref := objRef(deploymentMapping, o.GetNamespace(), o.GetName())
		if restartedAt(o) == in.Token {
			lines = append(lines, fmt.Sprintf("%s: already restarted at %s (generation %d)", ref, in.Token, o.GetGeneration()))
			continue
		}
		// kubectl refuses too: a paused Deployment would take the new
		// template but never roll it out, and the step would look done.
		if paused, _, _ := unstructured.NestedBool(o.Object, "spec", "paused"); paused {
			return fail(steps.Permanent(fmt.Errorf("%s is paused: resume it first (kubectl rollout resume), then restart", ref)))
		}
		var got *unstructured.Unstructured
		err := cluster.Do(ctx, func(ctx context.Context) (err error) {
			got, err = ri.Patch(ctx, o.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return fail(apiFailure(ctx, err, "%s: restarting", ref))
		}
		lines = append(lines, fmt.Sprintf("%s: restarted at %s (generation %d)", ref, in.Token, got.GetGeneration()))
		in.Report("restarted %s (%d/%d)", shortRef(deploymentMapping, o.GetName()), i+1, len(objs))
	}
	if len(objs) == 0 {
		lines = append(lines, "no "+p.describe(deploymentMapping)+" (allowEmpty)")
	}
	if p.Wait && len(objs) > 0 {
		waited, err := waitRolledOut(ctx, x.cl, p.Selection, p.Timeout, in.Report)
		lines = append(lines, waited...)
		if err != nil {
			return fail(err)
		}
	}
	return steps.Result{Evidence: strings.Join(lines, "\n")}, nil
}
