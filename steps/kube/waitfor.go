package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

const objDefaultWaitTimeout = 5 * time.Minute

// WaitForParams are the params of kube.waitFor: watch the selected objects
// until they satisfy every given test (condition, field, fields), or until
// they are gone (deleted).
type WaitForParams struct {
	ObjectQuery `yaml:",inline" json:",inline"`
	Condition   *WaitCondition   `yaml:"condition" json:"condition,omitempty"`
	Field       *FieldCondition  `yaml:"field" json:"field,omitempty"`
	Fields      []FieldCondition `yaml:"fields" json:"fields,omitempty"`
	Deleted     bool             `yaml:"deleted" json:"deleted,omitempty"`
	// Match is "all" (the default: every selected object, and at least
	// one) or "any" (one object is enough).
	Match   string        `yaml:"match" json:"match,omitempty"`
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// Validate checks the shape; paths are parsed unless they hold a reference.
func (p *WaitForParams) Validate() []playbooks.FieldError {
	var errs objFieldErrs
	p.validateQuery(errs.add)
	tests := p.tests()
	switch {
	case p.Deleted && len(tests) > 0:
		errs.add("deleted", "deleted waits for the objects to be gone; it cannot be combined with %s", strings.Join(tests, ", "))
	case !p.Deleted && len(tests) == 0:
		errs.add("", "set what to wait for: condition, field, fields or deleted: true")
	}
	if p.Condition != nil && strings.TrimSpace(p.Condition.Type) == "" {
		errs.add("condition.type", "is required, e.g. Available or Ready")
	}
	if p.Field != nil {
		p.Field.validate(errs.prefixed("field"))
	}
	for i := range p.Fields {
		p.Fields[i].validate(errs.prefixed(fmt.Sprintf("fields.%d", i)))
	}
	switch p.Match {
	case "", "all", "any":
		if p.Deleted && p.Match != "" {
			errs.add("match", "does not apply to deleted: true, which waits until no object is selected")
		}
	default:
		errs.add("match", "must be all or any, not %q", p.Match)
	}
	if p.Timeout < 0 {
		errs.add("timeout", "must not be negative (default %s)", objDefaultWaitTimeout)
	}
	return errs
}

func (p *WaitForParams) tests() []string {
	var t []string
	if p.Condition != nil {
		t = append(t, "condition")
	}
	if p.Field != nil {
		t = append(t, "field")
	}
	if len(p.Fields) > 0 {
		t = append(t, "fields")
	}
	return t
}

func waitForKind(clients cluster.ClientsFunc) steps.Kind {
	return steps.Kind{
		Name:         "kube.waitFor",
		Summary:      "watch objects until a condition or field holds (all or any of them), or until they are deleted",
		NewParams:    func() any { return &WaitForParams{} },
		New:          lazy(clients, func(cl *cluster.Clients) steps.Executor { return &waitForExec{cl: cl} }),
		NeedsCluster: true,
		ReadOnly:     true,
	}
}

type waitForExec struct{ cl *cluster.Clients }

// prepare checks the rendered params and resolves the kind.
func (x *waitForExec) prepare(ctx context.Context, params any) (*WaitForParams, *cluster.Clients, *objTarget, error) {
	p, err := objParams[WaitForParams]("kube.waitFor", params)
	if err != nil {
		return nil, nil, nil, err
	}
	if p.Condition != nil && strings.TrimSpace(p.Condition.Type) == "" {
		return nil, nil, nil, steps.Permanent(fmt.Errorf("condition.type is empty after rendering"))
	}
	for _, f := range p.fieldConds() {
		if _, err := ParseFieldPath(f.Path); err != nil {
			return nil, nil, nil, steps.Permanent(err)
		}
		if f.comparison() == "" {
			return nil, nil, nil, steps.Permanent(fmt.Errorf("field %s: set exactly one of equals, notEquals, in or notIn", f.Path))
		}
	}
	cl := x.cl
	t, err := resolveObjQuery(ctx, cl, p.ObjectQuery)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, cl, t, nil
}

func (p *WaitForParams) fieldConds() []FieldCondition {
	fs := append([]FieldCondition(nil), p.Fields...)
	if p.Field != nil {
		fs = append([]FieldCondition{*p.Field}, fs...)
	}
	return fs
}

// Run lists once (so a wrong kind, namespace or permission fails fast with
// the API's error rather than as a timeout), then watches. Timing out is
// not Permanent: like exec's timeout, a retry with more patience may pass.
func (x *waitForExec) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, cl, t, err := x.prepare(ctx, in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	objs, err := t.list(ctx, cl)
	if err != nil {
		return steps.Result{}, err
	}
	eval := p.evaluator(t)
	if v := eval(objs); v.done {
		return steps.Result{Evidence: v.summary}, nil
	}
	timeout := p.Timeout
	if timeout == 0 {
		timeout = objDefaultWaitTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := watchObjs(wctx, cl, t, eval, func(s string) { in.Report("%s", s) })
	switch {
	case err == nil && v.done:
		return steps.Result{Evidence: v.summary}, nil
	case ctx.Err() != nil:
		return steps.Result{}, ctx.Err()
	}
	return steps.Result{}, fmt.Errorf("timed out after %s waiting for %s to %s: %s", timeout, t.describe(), p.goal(), v.summary)
}

// Check reads once: done if the objects are already in the wanted state.
func (x *waitForExec) Check(ctx context.Context, in steps.Instance) (bool, error) {
	p, cl, t, err := x.prepare(ctx, in.Params)
	if err != nil {
		return false, err
	}
	objs, err := t.list(ctx, cl)
	if err != nil {
		return false, err
	}
	return p.evaluator(t)(objs).done, nil
}

func (p *WaitForParams) goal() string {
	if p.Deleted {
		return "be deleted"
	}
	var parts []string
	if c := p.Condition; c != nil {
		status := c.Status
		if status == "" {
			status = "True"
		}
		s := "have condition " + c.Type + "=" + status
		if c.Reason != "" {
			s += " (reason " + c.Reason + ")"
		}
		parts = append(parts, s)
	}
	for _, f := range p.fieldConds() {
		parts = append(parts, "have "+f.Path+" "+f.want())
	}
	who := "all"
	if p.Match == "any" {
		who = "any"
	}
	return strings.Join(parts, " and ") + " (" + who + ")"
}

// evaluator judges a set of objects. Zero objects never satisfy "all": a
// wait on a selector that matches nothing (yet) keeps waiting, since the
// objects may be about to be created.
func (p *WaitForParams) evaluator(t *objTarget) func([]*unstructured.Unstructured) objVerdict {
	fields := p.fieldConds()
	return func(objs []*unstructured.Unstructured) objVerdict {
		if p.Deleted {
			if len(objs) == 0 {
				return objVerdict{done: true, summary: "no " + t.describe() + " left"}
			}
			return objVerdict{summary: fmt.Sprintf("%d still present: %s", len(objs), objList(t.m.Kind, objs, nil))}
		}
		if len(objs) == 0 {
			return objVerdict{summary: "nothing matches " + t.describe() + " yet"}
		}
		var okObjs, bad []string
		for _, u := range objs {
			ok, found := true, []string{}
			if p.Condition != nil {
				c, s := p.Condition.eval(u)
				ok = ok && c
				found = append(found, s)
			}
			for _, f := range fields {
				c, s, err := f.eval(u.Object)
				if err != nil {
					c, s = false, err.Error()
				}
				ok = ok && c
				found = append(found, s)
			}
			desc := objNSName(u.GetNamespace(), u.GetName()) + " (" + strings.Join(found, ", ") + ")"
			if ok {
				okObjs = append(okObjs, desc)
			} else {
				bad = append(bad, desc)
			}
		}
		done := len(bad) == 0 || (p.Match == "any" && len(okObjs) > 0)
		kinds := objPlural(t.m.Kind)
		if done {
			return objVerdict{done: true, summary: fmt.Sprintf("%d/%d %s satisfied: %s", len(okObjs), len(objs), kinds, objFirst(okObjs))}
		}
		return objVerdict{summary: fmt.Sprintf("%d/%d %s satisfied; waiting for %s", len(okObjs), len(objs), kinds, objFirst(bad))}
	}
}

// objFirst joins descriptions, shortened after ten: a wait over hundreds
// of pods must not print hundreds of lines on every change.
func objFirst(descs []string) string {
	if len(descs) > 10 {
		return strings.Join(descs[:10], ", ") + fmt.Sprintf(" and %d more", len(descs)-10)
	}
	return strings.Join(descs, ", ")
}

// objList names objects for a message, with an optional note per object,
// shortened after ten so that a huge selection stays readable.
func objList(kind string, objs []*unstructured.Unstructured, note func(*unstructured.Unstructured) string) string {
	var parts []string
	for i, u := range objs {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(objs)-10))
			break
		}
		s := kind + " " + objNSName(u.GetNamespace(), u.GetName())
		if note != nil {
			s += " (" + note(u) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
