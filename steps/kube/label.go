package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// LabelParams are the params of kube.label and kube.annotate.
//
// Restore takes a change spec as kubectl writes it, "k=v,k2-" (k2- removes
// k2), usually the `previous` output of the step being undone. It exists
// because map keys are never templated, so Set cannot be filled from an
// output. In values, "," and "%" are written %2C and %25; label values
// never contain either.
type LabelParams struct {
	Kind       string            `yaml:"kind" json:"kind"`
	Name       string            `yaml:"name" json:"name,omitempty"`
	Selector   string            `yaml:"selector" json:"selector,omitempty"`
	Namespace  string            `yaml:"namespace" json:"namespace,omitempty"`
	AllowEmpty bool              `yaml:"allowEmpty" json:"allowEmpty,omitempty"`
	Set        map[string]string `yaml:"set" json:"set,omitempty"`
	Remove     []string          `yaml:"remove" json:"remove,omitempty"`
	Restore    string            `yaml:"restore" json:"restore,omitempty"`

	// field is "labels" or "annotations", fixed by the kind's NewParams;
	// playbooks.Render carries it over to the rendered copy.
	field string
}

// Outputs: previous is the prior state of every key the step touches, as a
// Restore spec, so that an undo can put it back. It is set only when exactly
// one object is selected; with several there is no single prior state.
func (p *LabelParams) Outputs() []string { return []string{"previous"} }

func (p *LabelParams) annotations() bool { return p.field == "annotations" }

// Validate checks what is known before rendering. Map keys are literal, so
// they are always checked; values and list entries holding a reference are
// checked when the step runs.
func (p *LabelParams) Validate() []playbooks.FieldError {
	var errs []playbooks.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, playbooks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(p.Kind) == "" {
		add("kind", "is required: the kind of object, e.g. Namespace or Deployment")
	}
	switch {
	case p.Name == "" && p.Selector == "":
		add("", "set one of name or selector")
	case p.Name != "" && p.Selector != "":
		add("selector", "set exactly one of name and selector, not both")
	}
	if p.Name != "" {
		if msg := checkObjectName(p.Name); msg != "" {
			add("name", "%s", msg)
		}
	}
	if msg := checkSelector(p.Selector); msg != "" {
		add("selector", "%s", msg)
	}
	if p.Namespace != "" && !hasRef(p.Namespace) {
		if msgs := validation.IsDNS1123Label(p.Namespace); len(msgs) > 0 {
			add("namespace", "invalid namespace %q: %s", p.Namespace, strings.Join(msgs, "; "))
		}
	}
	if p.AllowEmpty && p.Selector == "" {
		add("allowEmpty", "applies only to selector")
	}
	if len(p.Set) == 0 && len(p.Remove) == 0 && p.Restore == "" {
		add("", "set, remove or restore must name at least one key")
	}
	for _, k := range sortedKeys(p.Set) {
		if msg := p.checkKey(k); msg != "" {
			add("set."+k, "%s (keys are never templated)", msg)
		} else if msg := p.checkValue(p.Set[k]); msg != "" {
			add("set."+k, "%s", msg)
		}
	}
	for i, k := range p.Remove {
		if hasRef(k) {
			continue
		}
		if msg := p.checkKey(k); msg != "" {
			add(fmt.Sprintf("remove.%d", i), "%s", msg)
		} else if _, dup := p.Set[k]; dup {
			add(fmt.Sprintf("remove.%d", i), "key %s is also in set: either set it or remove it", k)
		}
	}
	if p.Restore != "" && !hasRef(p.Restore) {
		if _, err := p.parseSpec(p.Restore); err != nil {
			add("restore", "%v", err)
		}
	}
	return errs
}

func (p *LabelParams) checkKey(k string) string {
	if p.annotations() {
		k = strings.ToLower(k) // as the API server checks annotation keys
	}
	if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
		return fmt.Sprintf("invalid key %q: %s", k, strings.Join(msgs, "; "))
	}
	return ""
}

func (p *LabelParams) checkValue(v string) string {
	if p.annotations() || hasRef(v) {
		return ""
	}
	if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
		return fmt.Sprintf("invalid label value %q: %s", v, strings.Join(msgs, "; "))
	}
	return ""
}

func labelKinds(clients cluster.ClientsFunc) []steps.Kind {
	mk := func(name, field, summary string) steps.Kind {
		return steps.Kind{
			Name:      name,
			Summary:   summary,
			NewParams: func() any { return &LabelParams{field: field} },
			New: lazy(clients, func(cl *cluster.Clients) steps.Executor {
				return &labeler{name: name, field: field, cl: cl}
			}),
			NeedsCluster: true,
		}
	}
	return []steps.Kind{
		mk("kube.label", "labels", "set and remove labels on objects of any kind (one merge patch per object)"),
		mk("kube.annotate", "annotations", "set and remove annotations on objects of any kind (one merge patch per object)"),
	}
}

type labeler struct {
	name  string
	field string
	cl    *cluster.Clients
}

type labelTarget struct {
	p    *LabelParams
	m    Mapping
	sel  Selection
	want changes
	objs []*unstructured.Unstructured
}

func (x *labeler) target(ctx context.Context, params any) (*labelTarget, error) {
	p, err := paramsOf[LabelParams](x.name, params)
	if err != nil {
		return nil, err
	}
	p.field = x.field // in case the params were built by hand, not by NewParams
	want, err := p.wanted()
	if err != nil {
		return nil, steps.Permanent(fmt.Errorf("%s: %w", x.name, err))
	}
	m, err := Resolve(ctx, x.cl.Mapper, p.Kind)
	if err != nil {
		return nil, apiFailure(ctx, err, "%s: kind %s", x.name, p.Kind)
	}
	sel := Selection{Selector: p.Selector, Namespace: p.Namespace, AllowEmpty: p.AllowEmpty}
	if p.Name != "" {
		sel.Names = []string{p.Name}
	}
	objs, err := selectObjects(ctx, x.cl.Dynamic, m, sel)
	if err != nil {
		return nil, err
	}
	return &labelTarget{p: p, m: m, sel: sel, want: want, objs: objs}, nil
}

// Check is done when every selected object already has the wanted state.
func (x *labeler) Check(ctx context.Context, in steps.Instance) (bool, error) {
	t, err := x.target(ctx, in.Params)
	if err != nil {
		return false, err
	}
	for _, obj := range t.objs {
		if patch, _ := t.p.diff(obj, t.want); len(patch) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// Run patches each object that differs, with its resourceVersion as a
// precondition: the `previous` output must be the state the patch replaced,
// not one read before someone else's write.
func (x *labeler) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	t, err := x.target(ctx, in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	ri := resource(x.cl.Dynamic, t.m, t.sel.Namespace)
	var lines []string
	var previous string
	for i, obj := range t.objs {
		ref := objRef(t.m, obj.GetNamespace(), obj.GetName())
		var patch map[string]any
		var prior changes
		err := cluster.Do(ctx, func(ctx context.Context) error {
			for {
				patch, prior = t.p.diff(obj, t.want)
				if len(patch) == 0 {
					return nil
				}
				body, err := json.Marshal(map[string]any{"metadata": map[string]any{
					"resourceVersion": obj.GetResourceVersion(), x.field: patch}})
				if err != nil {
					return steps.Permanent(err)
				}
				_, err = ri.Patch(ctx, obj.GetName(), types.MergePatchType, body, metav1.PatchOptions{})
				if !apierrors.IsConflict(err) {
					return err
				}
				fresh, gerr := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
				if gerr != nil {
					return gerr
				}
				obj = fresh
			}
		})
		if err != nil {
			return steps.Result{Evidence: strings.Join(lines, "\n")}, apiFailure(ctx, err, "%s: patching %s", ref, x.field)
		}
		if i == 0 && len(t.objs) == 1 {
			previous = formatSpec(prior)
		}
		if len(patch) == 0 {
			lines = append(lines, ref+": "+x.field+" already as wanted")
		} else {
			lines = append(lines, ref+": "+describePatch(patch, prior))
		}
		in.Report("%d/%d objects done", i+1, len(t.objs))
	}
	if len(t.objs) == 0 {
		lines = append(lines, "no "+t.sel.describe(t.m)+" (allowEmpty)")
	}
	return steps.Result{Outputs: map[string]string{"previous": previous}, Evidence: strings.Join(lines, "\n")}, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
