package kube

import (
	"context"

	"github.com/cairn-dev/cairn/steps/cluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// objVerdict is what an evaluation of the selected objects concluded.
type objVerdict struct {
	done    bool
	summary string // what was found, for progress and a timeout's message
}

// watchObjs watches what t selects until eval reports done or ctx ends, and
// returns the last verdict. eval always sees every selected object, sorted,
// in its latest known state: it reads the informer's store rather than the
// event at hand, so a wait is level-triggered and an object that is already
// in the wanted state (or already gone) ends it at once.
//
// Watching rather than polling means a change is seen within the watch's
// latency, and UntilWithSync relists by itself after a dropped connection
// or an expired resourceVersion, so an API server restart does not end the
// wait early.
func watchObjs(ctx context.Context, cl *cluster.Clients, t *objTarget, eval func([]*unstructured.Unstructured) objVerdict, report func(string)) (objVerdict, error) {
	ri := t.resource(cl)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return ri.List(ctx, t.listOptions(o))
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return ri.Watch(ctx, t.listOptions(o))
		},
	}
	var (
		store cache.Store
		last  objVerdict
		seen  bool
	)
	check := func() (bool, error) {
		items := store.List()
		objs := make([]*unstructured.Unstructured, 0, len(items))
		for _, it := range items {
			if u, ok := it.(*unstructured.Unstructured); ok {
				objs = append(objs, u)
			}
		}
		sortObjs(objs)
		v := eval(objs)
		if !seen || v.summary != last.summary {
			report(v.summary)
		}
		last, seen = v, true
		return v.done, nil
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{},
		func(s cache.Store) (bool, error) { store = s; return check() },
		func(watch.Event) (bool, error) { return check() })
	return last, err
}
