package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// Selection picks objects of one kind in one namespace: by names, all of
// them, or by a label selector. Exactly one of Names, All and Selector is
// set.
//
// An empty result from All or Selector is an error unless AllowEmpty is set:
// in an upgrade, "restart every injected deployment" finding none usually
// means a wrong namespace or selector, and succeeding silently would hide
// it. Names never match nothing: a missing name is an error of its own.
type Selection struct {
	Names      []string `yaml:"names" json:"names,omitempty"`
	All        bool     `yaml:"all" json:"all,omitempty"`
	Selector   string   `yaml:"selector" json:"selector,omitempty"`
	Namespace  string   `yaml:"namespace" json:"namespace,omitempty"`
	AllowEmpty bool     `yaml:"allowEmpty" json:"allowEmpty,omitempty"`
}

var deploymentMapping = Mapping{
	GVR:        schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
	Kind:       "Deployment",
	Namespaced: true,
}

// hasRef tells whether s holds a reference, whose value is only known at run
// time; load-time checks skip such strings.
func hasRef(s string) bool { return strings.Contains(s, "${") }

// validate checks a selection of a namespaced kind.
func (s *Selection) validate() []playbooks.FieldError {
	var errs []playbooks.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, playbooks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	var set []string
	if s.Names != nil {
		set = append(set, "names")
	}
	if s.All {
		set = append(set, "all")
	}
	if s.Selector != "" {
		set = append(set, "selector")
	}
	switch {
	case len(set) == 0:
		add("", "set one of names, all: true or selector")
	case len(set) > 1:
		add(set[1], "set exactly one of names, all and selector, not %s", strings.Join(set, " and "))
	}
	if s.Names != nil && len(s.Names) == 0 {
		add("names", "must list at least one name")
	}
	for i, n := range s.Names {
		if msg := checkObjectName(n); msg != "" {
			add(fmt.Sprintf("names.%d", i), "%s", msg)
		}
	}
	if msg := checkSelector(s.Selector); msg != "" {
		add("selector", "%s", msg)
	}
	switch {
	case s.Namespace == "":
		add("namespace", "is required")
	case !hasRef(s.Namespace):
		if msgs := validation.IsDNS1123Label(s.Namespace); len(msgs) > 0 {
			add("namespace", "invalid namespace %q: %s", s.Namespace, strings.Join(msgs, "; "))
		}
	}
	if s.AllowEmpty && s.Names != nil {
		add("allowEmpty", "applies only to all and selector: a listed name that is missing is always an error")
	}
	return errs
}

func checkObjectName(n string) string {
	switch {
	case strings.TrimSpace(n) == "":
		return "must not be empty"
	case hasRef(n):
		return ""
	}
	if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
		return fmt.Sprintf("invalid name %q: %s", n, strings.Join(msgs, "; "))
	}
	return ""
}

func checkSelector(sel string) string {
	if sel == "" || hasRef(sel) {
		return ""
	}
	if _, err := labels.Parse(sel); err != nil {
		return fmt.Sprintf("invalid label selector %q: %v", sel, err)
	}
	return ""
}

// describe says what was selected, for errors and evidence: "deployments
// web, api in app-1", "deployments in app-1 matching app=web".
func (s Selection) describe(m Mapping) string {
	plural := strings.ToLower(m.Kind) + "s"
	where := ""
	if s.Namespace != "" {
		where = " in namespace " + s.Namespace
	}
	switch {
	case len(s.Names) > 0:
		return plural + " " + strings.Join(s.Names, ", ") + where
	case s.Selector != "":
		return plural + where + " matching " + s.Selector
	default:
		return "all " + plural + where
	}
}

// noneFound is the error for an empty all/selector selection.
func (s Selection) noneFound(m Mapping) error {
	what := strings.TrimPrefix(s.describe(m), "all ")
	return steps.Permanent(fmt.Errorf("found no %s (set allowEmpty: true if none is fine)", what))
}

// objRef names one object as messages show it: "deployment app-1/web",
// "namespace istio-system".
func objRef(m Mapping, ns, name string) string {
	kind := strings.ToLower(m.Kind)
	if m.Namespaced && ns != "" {
		return kind + " " + ns + "/" + name
	}
	return kind + " " + name
}

// resource returns the client for m, namespaced when m is.
func resource(dyn dynamic.Interface, m Mapping, ns string) dynamic.ResourceInterface {
	if m.Namespaced {
		return dyn.Resource(m.GVR).Namespace(ns)
	}
	return dyn.Resource(m.GVR)
}

// selectObjects fetches the selected objects, sorted by name. Errors name
// the namespace and selector; they are Permanent unless ctx ended while the
// API server was unreachable.
func selectObjects(ctx context.Context, dyn dynamic.Interface, m Mapping, s Selection) ([]*unstructured.Unstructured, error) {
	if m.Namespaced && s.Namespace == "" {
		return nil, steps.Permanent(fmt.Errorf("%s is namespaced: set namespace", m.Kind))
	}
	if !m.Namespaced && s.Namespace != "" {
		return nil, steps.Permanent(fmt.Errorf("%s is cluster-scoped: remove namespace %q", m.Kind, s.Namespace))
	}
	ri := resource(dyn, m, s.Namespace)
	var out []*unstructured.Unstructured
	if len(s.Names) > 0 {
		for _, name := range s.Names {
			if name == "" {
				return nil, steps.Permanent(fmt.Errorf("%s: a name is empty after rendering", s.describe(m)))
			}
			var obj *unstructured.Unstructured
			err := cluster.Do(ctx, func(ctx context.Context) (err error) {
				obj, err = ri.Get(ctx, name, metav1.GetOptions{})
				return err
			})
			if err != nil {
				return nil, apiFailure(ctx, err, "%s", objRef(m, s.Namespace, name))
			}
			out = append(out, obj)
		}
		return out, nil
	}
	if s.Selector != "" {
		if _, err := labels.Parse(s.Selector); err != nil {
			return nil, steps.Permanent(fmt.Errorf("%s: invalid label selector: %w", s.describe(m), err))
		}
	}
	var list *unstructured.UnstructuredList
	err := cluster.Do(ctx, func(ctx context.Context) (err error) {
		list, err = ri.List(ctx, metav1.ListOptions{LabelSelector: s.Selector})
		return err
	})
	if err != nil {
		return nil, apiFailure(ctx, err, "listing %s", s.describe(m))
	}
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	if len(out) == 0 && !s.AllowEmpty {
		return nil, s.noneFound(m)
	}
	return out, nil
}

// apiFailure describes a failed API call. Do has already retried transient
// errors, so what reaches here is either permanent (NotFound, Forbidden,
// Invalid: a retry would fail the same way) or the end of ctx while the
// server was unreachable, which is left retryable.
func apiFailure(ctx context.Context, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	var perm *steps.PermanentError
	switch {
	case errors.As(err, &perm):
		return err
	case apierrors.IsNotFound(err):
		return steps.Permanent(fmt.Errorf("%s: not found", what))
	case ctx.Err() != nil || cluster.IsTransient(err):
		return fmt.Errorf("%s: %w", what, err)
	default:
		return steps.Permanent(fmt.Errorf("%s: %w", what, err))
	}
}

// paramsOf asserts the params type; a mismatch is a bug in the engine or
// the kind, never something a retry fixes.
func paramsOf[T any](kind string, p any) (*T, error) {
	v, ok := p.(*T)
	if !ok || v == nil {
		var zero T
		return nil, steps.Permanent(fmt.Errorf("%s: params are %T, not %T (a bug)", kind, p, &zero))
	}
	return v, nil
}
