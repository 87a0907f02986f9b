package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// ObjectQuery selects objects of one kind, the way `kubectl get KIND
// [NAME | -l SELECTOR] [-n NS | -A]` does. It is inlined into the params of
// the kinds that read objects (kube.check, kube.waitFor, kube.names).
type ObjectQuery struct {
	// Kind is resolved through discovery: Pod, deploy, IstioOperator,
	// clusters.baremetal.cluster.gke.io.
	Kind string `yaml:"kind" json:"kind"`
	// Namespace is required for namespaced kinds unless AllNamespaces is
	// set; it is ignored for cluster-scoped kinds, as kubectl does. There
	// is no implicit "default" namespace: an upgrade step that silently
	// looked at the wrong namespace would pass for the wrong reason.
	Namespace     string `yaml:"namespace" json:"namespace,omitempty"`
	AllNamespaces bool   `yaml:"allNamespaces" json:"allNamespaces,omitempty"`
	// Name and Selector (a label selector) are exclusive; with neither,
	// every object of the kind is selected.
	Name     string `yaml:"name" json:"name,omitempty"`
	Selector string `yaml:"selector" json:"selector,omitempty"`
}

// validateQuery checks what can be checked before rendering.
func (q *ObjectQuery) validateQuery(add func(field, format string, args ...any)) {
	if strings.TrimSpace(q.Kind) == "" {
		add("kind", "is required: the kind of object, e.g. Pod, Deployment or IstioOperator")
	}
	if q.Name != "" && q.Selector != "" {
		add("selector", "set name or selector, not both")
	}
	if q.Namespace != "" && q.AllNamespaces {
		add("allNamespaces", "set namespace or allNamespaces, not both")
	}
	if msg := checkObjSelector(q.Selector); msg != "" {
		add("selector", "%s", msg)
	}
}

// checkObjSelector parses a label selector unless it holds a reference.
func checkObjSelector(sel string) string {
	if sel == "" || strings.Contains(sel, "${") {
		return ""
	}
	if _, err := labels.Parse(sel); err != nil {
		return fmt.Sprintf("invalid label selector %q: %v", sel, err)
	}
	return ""
}

// objTarget is a rendered query bound to the resource it maps to.
type objTarget struct {
	q  ObjectQuery
	m  Mapping
	ns string // "" for cluster-scoped kinds and allNamespaces
}

// resolveObjQuery maps the kind and settles the namespace. Every failure is
// the playbook's, so it is permanent unless ctx ended.
func resolveObjQuery(ctx context.Context, cl *cluster.Clients, q ObjectQuery) (*objTarget, error) {
	if strings.TrimSpace(q.Kind) == "" {
		return nil, steps.Permanent(fmt.Errorf("kind is empty after rendering"))
	}
	if msg := checkObjSelector(q.Selector); msg != "" {
		return nil, steps.Permanent(fmt.Errorf("%s", msg))
	}
	m, err := Resolve(ctx, cl.Mapper, q.Kind)
	if err != nil {
		return nil, objAPIErr(ctx, fmt.Errorf("kind %s: %w", q.Kind, err))
	}
	t := &objTarget{q: q, m: m}
	if m.Namespaced && !q.AllNamespaces {
		if q.Namespace == "" {
			return nil, steps.Permanent(fmt.Errorf("%s is namespaced: set namespace, or allNamespaces: true", m.Kind))
		}
		t.ns = q.Namespace
	}
	return t, nil
}

func (t *objTarget) resource(cl *cluster.Clients) dynamic.ResourceInterface {
	if t.ns == "" {
		return cl.Dynamic.Resource(t.m.GVR)
	}
	return cl.Dynamic.Resource(t.m.GVR).Namespace(t.ns)
}

// listOptions are shared by the list and the watch, so that both see the
// same objects.
func (t *objTarget) listOptions(o metav1.ListOptions) metav1.ListOptions {
	o.LabelSelector = t.q.Selector
	if t.q.Name != "" {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", t.q.Name).String()
	}
	return o
}

// list returns the selected objects sorted by namespace and name, so that
// "the first object" and every message are deterministic.
func (t *objTarget) list(ctx context.Context, cl *cluster.Clients) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := cluster.Do(ctx, func(ctx context.Context) error {
		out = out[:0]
		if t.q.Name != "" && (t.ns != "" || !t.m.Namespaced) {
			u, err := t.resource(cl).Get(ctx, t.q.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err == nil {
				out = append(out, u)
			}
			return err
		}
		l, err := t.resource(cl).List(ctx, t.listOptions(metav1.ListOptions{}))
		if err != nil {
			return err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
		return nil
	})
	if err != nil {
		return nil, objAPIErr(ctx, fmt.Errorf("reading %s: %w", t.describe(), err))
	}
	sortObjs(out)
	return out, nil
}

func sortObjs(objs []*unstructured.Unstructured) {
	sort.Slice(objs, func(i, j int) bool {
		if a, b := objs[i].GetNamespace(), objs[j].GetNamespace(); a != b {
			return a < b
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}

// describe names the selection for messages: "Pods in app with selector
// app=web", "Deployment istio-system/istiod".
func (t *objTarget) describe() string {
	kind := t.m.Kind
	if t.q.Name != "" {
		switch {
		case t.ns != "":
			return kind + " " + t.ns + "/" + t.q.Name
		case t.m.Namespaced:
			return kind + " " + t.q.Name + " in all namespaces"
		}
		return kind + " " + t.q.Name
	}
	s := objPlural(kind)
	switch {
	case t.ns != "":
		s += " in " + t.ns
	case t.m.Namespaced:
		s += " in all namespaces"
	}
	if t.q.Selector != "" {
		s += " with selector " + t.q.Selector
	}
	return s
}

func objPlural(kind string) string {
	switch {
	case strings.HasSuffix(kind, "y") && !strings.HasSuffix(kind, "ey"):
		return kind[:len(kind)-1] + "ies"
	case strings.HasSuffix(kind, "s"):
		return kind + "es"
	}
	return kind + "s"
}

// objDisplay names one object in messages: "Pod app/web-1", "Namespace app".
func objDisplay(kind string, u *unstructured.Unstructured) string {
	return kind + " " + objNSName(u.GetNamespace(), u.GetName())
}

func objNSName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// objAPIErr classifies an error that Do gave up on. Do retries transient
// errors until ctx ends, so what comes back while ctx is alive (NotFound,
// Forbidden, Invalid, an unknown kind) would fail the same way again.
func objAPIErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	return steps.Permanent(err)
}

// objParams unwraps an Instance's params; any mismatch is a bug in cairn.
func objParams[T any](kind string, p any) (*T, error) {
	v, ok := p.(*T)
	if !ok || v == nil {
		var zero T
		return nil, steps.Permanent(fmt.Errorf("%s: params are %T, not *%T (a bug)", kind, p, zero))
	}
	return v, nil
}

// objFieldErrs collects FieldErrors with a printf-style helper.
type objFieldErrs []playbooks.FieldError

func (e *objFieldErrs) add(field, format string, args ...any) {
	*e = append(*e, playbooks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// prefixed adds errors under a parent field, e.g. expect.fields.
func (e *objFieldErrs) prefixed(prefix string) func(field, format string, args ...any) {
	return func(field, format string, args ...any) {
		if field != "" {
			field = prefix + "." + field
		} else {
			field = prefix
		}
		e.add(field, format, args...)
	}
}
