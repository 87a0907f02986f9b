package kube

import (
	"context"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// RolloutStatusParams are the params of kube.rolloutStatus. Timeout bounds
// the wait on top of the step's own timeout; zero means no bound of its own.
type RolloutStatusParams struct {
	Selection `yaml:",inline"`
	Timeout   time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// Validate checks the selection and the timeout.
func (p *RolloutStatusParams) Validate() []playbooks.FieldError {
	errs := p.validate()
	if p.Timeout < 0 {
		errs = append(errs, playbooks.FieldError{Field: "timeout", Msg: "must not be negative"})
	}
	return errs
}

type statusWaiter struct{ cl *cluster.Clients }

// Check is a single read: done when every selected Deployment has already
// rolled out.
func (x *statusWaiter) Check(ctx context.Context, in steps.Instance) (bool, error) {
	p, err := paramsOf[RolloutStatusParams]("kube.rolloutStatus", in.Params)
	if err != nil {
		return false, err
	}
	return rolledOutNow(ctx, x.cl, p.Selection)
}

// Run waits with one list+watch; see rolloutWait.
func (x *statusWaiter) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, err := paramsOf[RolloutStatusParams]("kube.rolloutStatus", in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	lines, err := waitRolledOut(ctx, x.cl, p.Selection, p.Timeout, in.Report)
	if err != nil {
		return steps.Result{}, err
	}
	return steps.Result{Evidence: strings.Join(lines, "\n")}, nil
}

// rolledOutNow reads the selected Deployments once: are all rolled out?
func rolledOutNow(ctx context.Context, cl *cluster.Clients, sel Selection) (bool, error) {
	w, err := newRolloutWait(cl.Dynamic, deploymentMapping, sel, nil)
	if err != nil {
		return false, err
	}
	return w.doneNow(ctx)
}

// waitRolledOut waits (one list+watch) until the selected Deployments have
// rolled out, at most timeout when it is positive; kube.rolloutStatus and
// kube.rolloutRestart with wait share it.
func waitRolledOut(ctx context.Context, cl *cluster.Clients, sel Selection, timeout time.Duration, report func(string, ...any)) ([]string, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	w, err := newRolloutWait(cl.Dynamic, deploymentMapping, sel, report)
	if err != nil {
		return nil, err
	}
	return w.run(ctx)
}
