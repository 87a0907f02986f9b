package kube

import (
	"context"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
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

type statusWaiter struct{ cl *steps.Cluster }

// Check is a single read: done when every selected Deployment has already
// rolled out.
func (x *statusWaiter) Check(ctx context.Context, in steps.Instance) (bool, error) {
	p, err := paramsOf[RolloutStatusParams]("kube.rolloutStatus", in.Params)
	if err != nil {
		return false, err
	}
	w, err := newRolloutWait(x.cl.Dynamic, deploymentMapping, p.Selection, nil)
	if err != nil {
		return false, err
	}
	return w.doneNow(ctx)
}

// Run waits with one list+watch; see rolloutWait.
func (x *statusWaiter) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, err := paramsOf[RolloutStatusParams]("kube.rolloutStatus", in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	w, err := newRolloutWait(x.cl.Dynamic, deploymentMapping, p.Selection, in.Report)
	if err != nil {
		return steps.Result{}, err
	}
	lines, err := w.run(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	return steps.Result{Evidence: strings.Join(lines, "\n")}, nil
}
