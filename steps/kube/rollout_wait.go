package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/cairn-dev/cairn/steps"
)

// rolloutWait waits until the rollout of every selected object is complete,
// as `kubectl rollout status` judges it. It lists and watches once for the
// whole selection (by name, or the namespace filtered by label selector), so
// the number of API requests does not grow with the length of the wait. The
// informer behind UntilWithSync re-lists and re-watches by itself when the
// API server goes away, so an outage only delays the wait.
type rolloutWait struct {
	dyn    dynamic.Interface
	m      Mapping
	viewer polymorphichelpers.StatusViewer
	sel    Selection
	report func(format string, args ...any)
	// settle also waits until no more replicas exist than wanted. kubectl
	// calls a scale-down rolled out as soon as the controller has seen it,
	// with the surplus pods still running; after kube.scale with wait the
	// count should be what was asked for.
	settle bool

	want     map[string]bool // nil until the first sync
	latest   map[string]*unstructured.Unstructured
	store    cache.Store // the informer's, from the first sync on
	reported string
}

func newRolloutWait(dyn dynamic.Interface, m Mapping, sel Selection, report func(string, ...any)) (*rolloutWait, error) {
	v, err := polymorphichelpers.StatusViewerFor(schema.GroupKind{Group: m.GVR.Group, Kind: m.Kind})
	if err != nil {
		return nil, steps.Permanent(fmt.Errorf("cannot wait for the rollout of %s: kubectl knows rollouts of Deployments, StatefulSets and DaemonSets only", m.Kind))
	}
	if report == nil {
		report = func(string, ...any) {}
	}
	return &rolloutWait{dyn: dyn, m: m, viewer: v, sel: sel, report: report, latest: map[string]*unstructured.Unstructured{}}, nil
}

// run returns one evidence line per object.
func (w *rolloutWait) run(ctx context.Context) ([]string, error) {
	if w.sel.Selector != "" {
		if _, err := labels.Parse(w.sel.Selector); err != nil {
			return nil, steps.Permanent(fmt.Errorf("%s: invalid label selector: %w", w.sel.describe(w.m), err))
		}
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lw, errs := w.listWatch(cancel)
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, w.precondition, w.condition)
	if err == nil {
		return w.evidence(), nil
	}
	if fatal := errs.fatal(); fatal != nil {
		return nil, steps.Permanent(fmt.Errorf("listing %s: %w", w.sel.describe(w.m), fatal))
	}
	var perm *steps.PermanentError
	if errors.As(err, &perm) || ctx.Err() == nil {
		return nil, err
	}
	after := time.Since(start).Round(time.Second)
	if w.want == nil && len(w.latest) == 0 {
		return nil, fmt.Errorf("could not list %s within %v (last API error: %v): %w", w.sel.describe(w.m), after, errs.last(), ctx.Err())
	}
	var pending []string
	for _, name := range w.names() {
		obj := w.latest[name]
		if obj == nil {
			pending = append(pending, fmt.Sprintf("%s: not found", objRef(w.m, w.sel.Namespace, name)))
			continue
		}
		if msg, done, _ := w.status(obj); !done {
			pending = append(pending, fmt.Sprintf("%s: rollout not complete after %v: %s", objRef(w.m, obj.GetNamespace(), name), after, msg))
		}
	}
	return nil, fmt.Errorf("%s: %w", strings.Join(pending, "; "), ctx.Err())
}

// listErrors keeps what the informer would otherwise only log: the last
// list or watch failure, and a failure that no retry can fix.
type listErrors struct {
	mu               sync.Mutex
	answered         bool // a list or watch has succeeded
	recent, fatalErr error
}

func (e *listErrors) last() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.recent
}

func (e *listErrors) fatal() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fatalErr
}

// isFatalList tells an error the informer would retry forever although the
// answer cannot change: no permission, a resource the server does not
// serve, a selector it rejects.
func isFatalList(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) || apierrors.IsMethodNotSupported(err)
}

// listWatch narrows the list and watch to the selection: one object by
// field selector, or the namespace by label selector.
//
// A fatal error stops the wait through stop, but only before the server
// has answered once: a server coming back from a restart may refuse
// requests for a moment while its authorizer catches up, and that must not
// end a wait that was going well. The watch counts too, since client-go
// may list through a watch (sendInitialEvents).
func (w *rolloutWait) listWatch(stop context.CancelFunc) (*cache.ListWatch, *listErrors) {
	ri := resource(w.dyn, w.m, w.sel.Namespace)
	errs := &listErrors{}
	record := func(err error) {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		switch {
		case err == nil:
			errs.answered = true
		case !errs.answered && isFatalList(err) && errs.fatalErr == nil:
			errs.fatalErr = err
			stop()
			fallthrough
		default:
			errs.recent = err
		}
	}
	narrow := func(o *metav1.ListOptions) {
		if len(w.sel.Names) == 1 {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.sel.Names[0]).String()
		}
		o.LabelSelector = w.sel.Selector
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			narrow(&o)
			l, err := ri.List(ctx, o)
			record(err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			narrow(&o)
			wi, err := ri.Watch(ctx, o)
			record(err)
			return wi, err
		},
	}
	return lw, errs
}

// precondition fixes the set of objects to wait for from the first sync:
// objects created later under all/selector are not waited for, as with
// kubectl, which resolves its arguments once.
func (w *rolloutWait) precondition(store cache.Store) (bool, error) {
	w.store = store
	for _, o := range store.List() {
		if u, ok := o.(*unstructured.Unstructured); ok {
			w.latest[u.GetName()] = u
		}
	}
	w.want = map[string]bool{}
	if len(w.sel.Names) > 0 {
		for _, n := range w.sel.Names {
			if w.latest[n] == nil {
				return false, steps.Permanent(fmt.Errorf("%s: not found", objRef(w.m, w.sel.Namespace, n)))
			}
			w.want[n] = true
		}
	} else {
		for n := range w.latest {
			w.want[n] = true
		}
		if len(w.want) == 0 {
			if w.sel.AllowEmpty {
				return true, nil
			}
			return false, w.sel.noneFound(w.m)
		}
	}
	return w.evaluate()
}

// condition judges from the informer's store, not from the event: the
// events queued while the precondition ran are replayed after it and may
// carry older states than the store already holds; judging those would
// make progress appear to go backwards.
func (w *rolloutWait) condition(ev watch.Event) (bool, error) {
	u, ok := ev.Object.(*unstructured.Unstructured)
	if !ok || !w.want[u.GetName()] {
		return false, nil
	}
	for n := range w.want {
		key := n
		if w.m.Namespaced {
			key = w.sel.Namespace + "/" + n
		}
		o, exists, _ := w.store.GetByKey(key)
		cur, isU := o.(*unstructured.Unstructured)
		if ev.Type == watch.Deleted && n == u.GetName() || !exists || !isU {
			return false, steps.Permanent(fmt.Errorf("%s was deleted while waiting for its rollout", objRef(w.m, w.sel.Namespace, n)))
		}
		w.latest[n] = cur
	}
	return w.evaluate()
}

func (w *rolloutWait) names() []string {
	out := make([]string, 0, len(w.want))
	for n := range w.want {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// evaluate reports progress when it changes and says whether all are done.
func (w *rolloutWait) evaluate() (bool, error) {
	names := w.names()
	done, pending := 0, ""
	for _, n := range names {
		msg, ok, err := w.status(w.latest[n])
		if err != nil {
			return false, err
		}
		if ok {
			done++
		} else if pending == "" {
			pending = shortRef(w.m, n) + ": " + msg
		}
	}
	var line string
	switch {
	case len(names) == 1 && pending != "":
		line = pending
	case len(names) == 1:
		line = shortRef(w.m, names[0]) + ": rolled out"
	case pending == "":
		line = fmt.Sprintf("%d/%d %ss rolled out", done, len(names), strings.ToLower(w.m.Kind))
	default:
		line = fmt.Sprintf("%d/%d %ss rolled out; %s", done, len(names), strings.ToLower(w.m.Kind), pending)
	}
	if line != w.reported {
		w.reported = line
		w.report("%s", line)
	}
	return done == len(names), nil
}

// status is kubectl's verdict, shortened for progress lines. A rollout
// that exceeded its progress deadline is Permanent: the controller has
// given up, and waiting longer cannot change that.
func (w *rolloutWait) status(obj *unstructured.Unstructured) (string, bool, error) {
	ref := objRef(w.m, obj.GetNamespace(), obj.GetName())
	msg, done, err := w.viewer.Status(obj, 0)
	if err == nil {
		if done && w.settle {
			want, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
			have, _, _ := unstructured.NestedInt64(obj.Object, "status", "replicas")
			if have > want {
				return fmt.Sprintf("%d replicas still exist, want %d", have, want), false, nil
			}
		}
		return shortStatus(msg), done, nil
	}
	if reason, cmsg := progressDeadline(obj); reason != "" {
		// Ask kubectl again without the condition, for the replica counts
		// it would have shown had the deadline not passed.
		cp := obj.DeepCopy()
		unstructured.RemoveNestedField(cp.Object, "status", "conditions")
		counts, _, _ := w.viewer.Status(cp, 0)
		return "", false, steps.Permanent(fmt.Errorf("%s: rollout not complete: %s (%s: %s)", ref, shortStatus(counts), reason, cmsg))
	}
	return "", false, steps.Permanent(fmt.Errorf("%s: %w", ref, err))
}

func progressDeadline(obj *unstructured.Unstructured) (reason, msg string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Progressing" && m["reason"] == "ProgressDeadlineExceeded" {
			s, _ := m["message"].(string)
			return "ProgressDeadlineExceeded", s
		}
	}
	return "", ""
}

// shortStatus turns `Waiting for deployment "web" rollout to finish: 1 of
// 2 updated replicas are available...` into `1 of 2 updated replicas are
// available`: the object is already named by the caller.
func shortStatus(msg string) string {
	msg = strings.TrimSpace(msg)
	if _, rest, ok := strings.Cut(msg, "rollout to finish: "); ok {
		msg = rest
	} else if strings.Contains(msg, "successfully rolled out") {
		msg = "rolled out"
	} else if rest, ok := strings.CutPrefix(msg, "Waiting for "); ok {
		msg = "waiting for " + rest
	}
	return strings.TrimSuffix(msg, "...")
}

// shortRef is kubectl's short form, "deploy/web", for progress lines.
func shortRef(m Mapping, name string) string {
	short := map[string]string{"Deployment": "deploy", "StatefulSet": "sts", "DaemonSet": "ds"}[m.Kind]
	if short == "" {
		short = strings.ToLower(m.Kind)
	}
	return short + "/" + name
}

func (w *rolloutWait) evidence() []string {
	var lines []string
	for _, n := range w.names() {
		obj := w.latest[n]
		lines = append(lines, fmt.Sprintf("%s: rolled out (generation %d, %d updated replicas)",
			objRef(w.m, obj.GetNamespace(), n), obj.GetGeneration(), updatedReplicas(obj)))
	}
	if len(lines) == 0 {
		lines = append(lines, "no "+w.sel.describe(w.m)+" (allowEmpty)")
	}
	return lines
}

func updatedReplicas(obj *unstructured.Unstructured) int64 {
	for _, f := range []string{"updatedReplicas", "updatedNumberScheduled"} {
		if v, ok, _ := unstructured.NestedInt64(obj.Object, "status", f); ok {
			return v
		}
	}
	return 0
}

// doneNow reads the objects once and says whether all are rolled out; it
// backs the Checkers of the kinds that wait.
func (w *rolloutWait) doneNow(ctx context.Context) (bool, error) {
	objs, err := selectObjects(ctx, w.dyn, w.m, w.sel)
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		if _, done, err := w.status(o); err != nil || !done {
			return false, err
		}
	}
	return true, nil
}
