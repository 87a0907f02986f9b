package kube

import (
	"context"
	"fmt"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

const (
	tagRevLabel         = "istio.io/rev"
	tagTagLabel         = "istio.io/tag"
	tagDefaultIstioNS   = "istio-system"
	tagWebhookPrefix    = "istio-revision-tag-"
	tagConflictAttempts = 5

	// What tagSet leaves on the webhook so that a later attempt of the same
	// instance still reports the revision the tag had before the first
	// attempt moved it, rather than the one it moved it to.
	annoTagSetBy   = "cairn.dev/tag-set-by"
	annoTagSetTo   = "cairn.dev/tag-set-to"
	annoTagSetFrom = "cairn.dev/tag-previous-revision"
)

// TagSetParams are the params of istio.tagSet, the native form of
// `istioctl tag set TAG --revision REV --overwrite` for an existing tag.
type TagSetParams struct {
	Tag      string `yaml:"tag" json:"tag"`
	Revision string `yaml:"revision" json:"revision"`
	// IstioNamespace holds the revision's istiod Service; default
	// istio-system.
	IstioNamespace string `yaml:"istioNamespace" json:"istioNamespace,omitempty"`
}

// Outputs: previousRevision is the tag's istio.io/rev before the step, so
// that an undo can move the tag back.
func (p *TagSetParams) Outputs() []string { return []string{"previousRevision"} }

// Validate checks the values that are literal.
func (p *TagSetParams) Validate() []playbooks.FieldError {
	var errs objFieldErrs
	check := func(field, v, example string) {
		switch {
		case strings.TrimSpace(v) == "":
			errs.add(field, "is required, e.g. %s", example)
		case !strings.Contains(v, "${"):
			if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
				errs.add(field, "%q is not a valid label value: %s", v, strings.Join(msgs, "; "))
			}
		}
	}
	check("tag", p.Tag, "default")
	check("revision", p.Revision, "asm-1140-0")
	return errs
}

func (p *TagSetParams) namespace() string {
	if p.IstioNamespace == "" {
		return tagDefaultIstioNS
	}
	return p.IstioNamespace
}

// service is the revision's istiod Service: the default revision's is
// plain "istiod".
func (p *TagSetParams) service() string {
	if p.Revision == "default" {
		return "istiod"
	}
	return "istiod-" + p.Revision
}

func (p *TagSetParams) webhook() string { return tagWebhookPrefix + p.Tag }

func tagSetKind(clients cluster.ClientsFunc) steps.Kind {
	return steps.Kind{
		Name:         "istio.tagSet",
		Summary:      "point an existing Istio revision tag (istio-revision-tag-TAG webhook) at a revision, like istioctl tag set --overwrite",
		NewParams:    func() any { return &TagSetParams{} },
		New:          lazy(clients, func(cl *cluster.Clients) steps.Executor { return &tagSetExec{cl: cl} }),
		NeedsCluster: true,
	}
}

type tagSetExec struct{ cl *cluster.Clients }

func tagInstanceKey(in steps.Instance) string {
	return in.RunID + "/" + in.StepID + "/" + in.Item + "/" + in.Token
}

// Run moves the tag with one Update carrying the webhook's resourceVersion,
// so a concurrent change (istioctl, another cairn) is never overwritten:
// on a conflict the webhook is read again and the change recomputed.
func (x *tagSetExec) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, err := objParams[TagSetParams]("istio.tagSet", in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	cl := x.cl
	ns, svc := p.namespace(), p.service()
	err = cluster.Do(ctx, func(ctx context.Context) error {
		_, err := cl.Kube.CoreV1().Services(ns).Get(ctx, svc, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return steps.Result{}, steps.Permanent(fmt.Errorf("Service %s/%s not found: revision %s has no istiod Service in %s, so the tag's webhooks would call nothing (is the revision installed, and is istioNamespace right?)", ns, svc, p.Revision, ns))
	}
	if err != nil {
		return steps.Result{}, objAPIErr(ctx, fmt.Errorf("reading Service %s/%s: %w", ns, svc, err))
	}
	api := cl.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	for try := 1; ; try++ {
		mwc, err := x.get(ctx, cl, p)
		if err != nil {
			return steps.Result{}, err
		}
		previous := tagPrevious(mwc, in, p.Revision)
		changed, err := p.retarget(mwc)
		if err != nil {
			return steps.Result{}, steps.Permanent(err)
		}
		if !changed {
			return steps.Result{
				Outputs:  map[string]string{"previousRevision": previous},
				Evidence: fmt.Sprintf("tag %s already on revision %s (was %s): MutatingWebhookConfiguration %s, %d webhooks call %s/%s", p.Tag, p.Revision, previous, p.webhook(), len(mwc.Webhooks), ns, svc),
			}, nil
		}
		if mwc.Annotations == nil {
			mwc.Annotations = map[string]string{}
		}
		mwc.Annotations[annoTagSetBy] = tagInstanceKey(in)
		mwc.Annotations[annoTagSetTo] = p.Revision
		mwc.Annotations[annoTagSetFrom] = previous
		err = cluster.Do(ctx, func(ctx context.Context) error {
			_, err := api.Update(ctx, mwc, metav1.UpdateOptions{FieldManager: FieldManager})
			return err
		})
		if apierrors.IsConflict(err) && try < tagConflictAttempts {
			continue
		}
		if err != nil {
			return steps.Result{}, objAPIErr(ctx, fmt.Errorf("updating MutatingWebhookConfiguration %s: %w", p.webhook(), err))
		}
		in.Report("tag %s: %s -> %s", p.Tag, previous, p.Revision)
		return steps.Result{
			Outputs:  map[string]string{"previousRevision": previous},
			Evidence: fmt.Sprintf("moved tag %s from revision %s to %s: MutatingWebhookConfiguration %s, %d webhooks now call %s/%s", p.Tag, previous, p.Revision, p.webhook(), len(mwc.Webhooks), ns, svc),
		}, nil
	}
}

func (x *tagSetExec) get(ctx context.Context, cl *cluster.Clients, p *TagSetParams) (*admv1.MutatingWebhookConfiguration, error) {
	var mwc *admv1.MutatingWebhookConfiguration
	err := cluster.Do(ctx, func(ctx context.Context) error {
		var err error
		mwc, err = cl.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, p.webhook(), metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, steps.Permanent(fmt.Errorf("MutatingWebhookConfiguration %s not found: revision tag %q does not exist; istio.tagSet moves an existing tag, so create it first (istioctl tag set %s --revision %s, or apply the output of istioctl tag generate)", p.webhook(), p.Tag, p.Tag, p.Revision))
	}
	if err != nil {
		return nil, objAPIErr(ctx, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", p.webhook(), err))
	}
	return mwc, nil
}

// tagPrevious is the revision the tag had before this instance first moved
// it: the annotation left by an earlier attempt of the same instance and
// target (a rollback runs with the same instance key, but towards another
// revision, and must see the live label), else the live label.
func tagPrevious(mwc *admv1.MutatingWebhookConfiguration, in steps.Instance, rev string) string {
	a := mwc.Annotations
	if a[annoTagSetBy] == tagInstanceKey(in) && a[annoTagSetTo] == rev {
		if prev, ok := a[annoTagSetFrom]; ok {
			return prev
		}
	}
	return mwc.Labels[tagRevLabel]
}

// retarget sets the labels and every webhook's Service in mwc, keeping the
// namespace and object selectors, paths and ports as they are, and reports
// whether anything changed.
func (p *TagSetParams) retarget(mwc *admv1.MutatingWebhookConfiguration) (bool, error) {
	if len(mwc.Webhooks) == 0 {
		return false, fmt.Errorf("MutatingWebhookConfiguration %s has no webhooks: it is not a revision tag istio.tagSet can move", mwc.Name)
	}
	changed := false
	if mwc.Labels == nil {
		mwc.Labels = map[string]string{}
	}
	for k, v := range map[string]string{tagRevLabel: p.Revision, tagTagLabel: p.Tag} {
		if mwc.Labels[k] != v {
			mwc.Labels[k] = v
			changed = true
		}
	}
	for i := range mwc.Webhooks {
		w := &mwc.Webhooks[i]
		s := w.ClientConfig.Service
		if s == nil {
			url := ""
			if w.ClientConfig.URL != nil {
				url = *w.ClientConfig.URL
			}
			return false, fmt.Errorf("webhook %s of MutatingWebhookConfiguration %s calls URL %q, not a Service: istio.tagSet only moves tags served by an in-cluster istiod", w.Name, mwc.Name, url)
		}
		if s.Name != p.service() || s.Namespace != p.namespace() {
			s.Name, s.Namespace = p.service(), p.namespace()
			changed = true
		}
	}
	return changed, nil
}

// Check reads the webhook back: done when its label names the revision and
// every webhook calls the revision's istiod.
func (x *tagSetExec) Check(ctx context.Context, in steps.Instance) (bool, error) {
	done, _, err := x.CheckResult(ctx, in)
	return done, err
}

// CheckResult is Check with the output Run would have published; the
// engine's built-in check keeps no outputs, so an undo referencing
// previousRevision needs this (see the kinds' report).
func (x *tagSetExec) CheckResult(ctx context.Context, in steps.Instance) (bool, steps.Result, error) {
	p, err := objParams[TagSetParams]("istio.tagSet", in.Params)
	if err != nil {
		return false, steps.Result{}, err
	}
	cl := x.cl
	mwc, err := x.get(ctx, cl, p)
	if err != nil {
		return false, steps.Result{}, err
	}
	previous := tagPrevious(mwc, in, p.Revision)
	probe := mwc.DeepCopy()
	changed, err := p.retarget(probe)
	if err != nil || changed {
		return false, steps.Result{}, nil
	}
	return true, steps.Result{
		Outputs:  map[string]string{"previousRevision": previous},
		Evidence: fmt.Sprintf("tag %s is on revision %s: every webhook of %s calls %s/%s", p.Tag, p.Revision, p.webhook(), p.namespace(), p.service()),
	}, nil
}
