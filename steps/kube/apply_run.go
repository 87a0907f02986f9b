package kube

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

type applyExec struct{ cl *cluster.Clients }

// applyItem is one manifest object bound to its resource.
type applyItem struct {
	obj  *unstructured.Unstructured
	m    Mapping
	ns   string
	name string // for messages: "Service istio-system/istiod"
}

func (it *applyItem) resource(cl *cluster.Clients) dynamic.ResourceInterface {
	if it.ns == "" {
		return cl.Dynamic.Resource(it.m.GVR)
	}
	return cl.Dynamic.Resource(it.m.GVR).Namespace(it.ns)
}

// prepare parses the manifests and maps every object before anything is
// applied, so that an unknown kind or a missing namespace fails the step
// untouched.
func (a *applyExec) prepare(ctx context.Context, params any) (*ApplyParams, *cluster.Clients, []*applyItem, error) {
	p, err := objParams[ApplyParams]("kube.apply", params)
	if err != nil {
		return nil, nil, nil, err
	}
	objs, err := p.objects()
	if err != nil {
		return nil, nil, nil, err
	}
	cl := a.cl
	var items []*applyItem
	for _, u := range objs {
		m, err := applyMapGVK(ctx, cl.Mapper, u.GroupVersionKind())
		if err != nil {
			return nil, nil, nil, err
		}
		it := &applyItem{obj: u, m: m}
		if m.Namespaced {
			it.ns = u.GetNamespace()
			if it.ns == "" {
				it.ns = p.Namespace
			}
			if it.ns == "" {
				return nil, nil, nil, steps.Permanent(fmt.Errorf("%s %s is namespaced but names no namespace: set metadata.namespace or the namespace param", m.Kind, u.GetName()))
			}
			u.SetNamespace(it.ns)
		} else {
			u.SetNamespace("")
		}
		it.name = m.Kind + " " + objNSName(it.ns, u.GetName())
		items = append(items, it)
	}
	return p, cl, items, nil
}

// applyMapGVK maps an object's apiVersion and kind. A miss triggers one fresh
// discovery, since an earlier step may just have installed the CRD.
func applyMapGVK(ctx context.Context, mapper meta.RESTMapper, gvk schema.GroupVersionKind) (Mapping, error) {
	var out Mapping
	err := cluster.Do(ctx, func(context.Context) error {
		rm, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			if r, ok := mapper.(resetter); ok {
				r.Reset()
				rm, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			}
		}
		if err == nil {
			out = Mapping{GVR: rm.Resource, Kind: gvk.Kind, Namespaced: rm.Scope.Name() == meta.RESTScopeNameNamespace}
		}
		return err
	})
	if meta.IsNoMatchError(err) {
		return out, steps.Permanent(fmt.Errorf("the cluster serves no %s %s (is its CRD installed?)", gvk.GroupVersion(), gvk.Kind))
	}
	return out, objAPIErr(ctx, err)
}

func (a *applyExec) get(ctx context.Context, cl *cluster.Clients, it *applyItem) (*unstructured.Unstructured, error) {
	var live *unstructured.Unstructured
	err := cluster.Do(ctx, func(ctx context.Context) error {
		u, err := it.resource(cl).Get(ctx, it.obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		live = u
		return err
	})
	if err != nil {
		return nil, objAPIErr(ctx, fmt.Errorf("reading %s: %w", it.name, err))
	}
	return live, nil
}

func (a *applyExec) apply(ctx context.Context, cl *cluster.Clients, it *applyItem, force, dryRun bool) (*unstructured.Unstructured, error) {
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var out *unstructured.Unstructured
	err := cluster.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = it.resource(cl).Apply(ctx, it.obj.GetName(), it.obj, opts)
		return err
	})
	if err != nil && apierrors.IsConflict(err) && !force {
		err = fmt.Errorf("%w; set force: true to take these fields over", err)
	}
	return out, err
}

// Run applies each object in manifest order. Server-side apply is
// idempotent, so running again after an interruption re-applies the same
// intent harmlessly; the evidence says which objects actually changed,
// judged by their resourceVersion.
func (a *applyExec) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	p, cl, items, err := a.prepare(ctx, in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	var evidence, diffs []string
	for _, it := range items {
		live, err := a.get(ctx, cl, it)
		if err != nil {
			return steps.Result{}, err
		}
		if p.Diff && it.m.Kind == "Secret" && it.m.GVR.Group == "" {
			diffs = append(diffs, it.name+": diff not recorded (Secret data stays out of the journal)\n")
		} else if p.Diff {
			d, err := a.itemDiff(ctx, cl, it, live, p.Force)
			if err != nil {
				return steps.Result{}, err
			}
			diffs = append(diffs, d)
		}
		got, err := a.apply(ctx, cl, it, p.Force, false)
		if err != nil {
			return steps.Result{}, objAPIErr(ctx, fmt.Errorf("applying %s: %w (applied before it: %s)", it.name, err, objOrNone(evidence)))
		}
		verb := "configured"
		switch {
		case live == nil:
			verb = "created"
		case live.GetResourceVersion() == got.GetResourceVersion():
			verb = "unchanged"
		}
		evidence = append(evidence, verb+" "+it.name)
		in.Report("%s %s", verb, it.name)
	}
	ev := strings.Join(evidence, "; ")
	if len(diffs) > 0 {
		ev += "\n" + strings.Join(diffs, "")
	}
	return steps.Result{Evidence: ev}, nil
}

// Check is done when a server-side dry-run apply of every object would
// change nothing: the object exists and the dry-run result equals the live
// object, ignoring resourceVersion, generation and managedFields. Comparing
// whole objects, rather than only the manifest's fields, also catches a
// field that this apply would remove (one cairn applied before and the
// manifest no longer has). A conflict means another manager holds a
// different value, so the effect is not in place.
func (a *applyExec) Check(ctx context.Context, in steps.Instance) (bool, error) {
	p, cl, items, err := a.prepare(ctx, in.Params)
	if err != nil {
		return false, err
	}
	for _, it := range items {
		live, err := a.get(ctx, cl, it)
		if err != nil || live == nil {
			return false, err
		}
		dry, err := a.apply(ctx, cl, it, p.Force, true)
		if apierrors.IsConflict(err) {
			return false, nil
		}
		if err != nil {
			return false, objAPIErr(ctx, fmt.Errorf("dry-run applying %s: %w", it.name, err))
		}
		if !reflect.DeepEqual(applyComparable(live), applyComparable(dry)) {
			return false, nil
		}
	}
	return true, nil
}

// applyComparable strips what changes on every write without changing what the
// object is.
func applyComparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	unstructured.RemoveNestedField(c, "metadata", "managedFields")
	unstructured.RemoveNestedField(c, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c, "metadata", "generation")
	// A dry-run create invents these; for a live object they never change.
	unstructured.RemoveNestedField(c, "metadata", "uid")
	unstructured.RemoveNestedField(c, "metadata", "creationTimestamp")
	return c
}

// Diff is what `cairn plan --diff` shows for a kube.apply step
// (steps.Differ): for each object, a unified diff of the live object against
// the result of a server-side dry-run apply, or a note that nothing would
// change. params must be rendered.
func (a *applyExec) Diff(ctx context.Context, params any) (string, error) {
	p, cl, items, err := a.prepare(ctx, params)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, it := range items {
		live, err := a.get(ctx, cl, it)
		if err != nil {
			return "", err
		}
		d, err := a.itemDiff(ctx, cl, it, live, p.Force)
		if err != nil {
			return "", err
		}
		b.WriteString(d)
	}
	return b.String(), nil
}

// itemDiff is one object's diff: live (nil when absent) against a
// server-side dry-run apply.
func (a *applyExec) itemDiff(ctx context.Context, cl *cluster.Clients, it *applyItem, live *unstructured.Unstructured, force bool) (string, error) {
	var b strings.Builder
	dry, err := a.apply(ctx, cl, it, force, true)
	if err != nil {
		if live != nil || !apierrors.IsNotFound(err) {
			return "", objAPIErr(ctx, fmt.Errorf("dry-run applying %s: %w", it.name, err))
		}
		// A new object in a namespace the same manifest creates:
		// the server cannot dry-run it yet, so show the manifest.
		dry = it.obj
		fmt.Fprintf(&b, "# %s: cannot dry-run yet (%v); showing the manifest\n", it.name, err)
	}
	var before []string
	from := it.name + " (live)"
	if live == nil {
		from = it.name + " (absent)"
	} else if reflect.DeepEqual(applyComparable(live), applyComparable(dry)) {
		fmt.Fprintf(&b, "%s: no changes\n", it.name)
		return b.String(), nil
	} else {
		before = applyYAMLLines(applyComparable(live))
	}
	diff, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: before, B: applyYAMLLines(applyComparable(dry)), FromFile: from, ToFile: it.name + " (after apply)", Context: 3,
	})
	if err != nil {
		return "", err
	}
	b.WriteString(diff)
	return b.String(), nil
}

func applyYAMLLines(obj map[string]any) []string {
	out, err := yaml.Marshal(obj)
	if err != nil {
		return []string{fmt.Sprintf("# cannot render: %v\n", err)}
	}
	return difflib.SplitLines(string(out))
}
