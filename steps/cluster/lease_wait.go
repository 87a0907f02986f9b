package cluster

import (
	"context"
	"errors"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// AcquireWaiting is Acquire for an operator who would rather wait than be
// refused: while another process holds the lock, it waits until the lease
// is released, taken by someone else or goes stale, and tries again. held
// is told of each refusal it waits on. ctx bounds the whole wait.
func (l *Lock) AcquireWaiting(ctx context.Context, h Holder, held func(*HeldError)) (*HeldLease, error) {
	for {
		got, err := l.Acquire(ctx, h)
		var he *HeldError
		if !errors.As(err, &he) {
			return got, err
		}
		if held != nil {
			held(he)
		}
		if err := l.waitChange(ctx, he.resourceVersion, he.Stale); err != nil {
			return nil, err
		}
	}
}

// waitChange returns when the lease is no longer at resourceVersion rv
// (renewed, released, taken, deleted) or at until, when it may be taken
// over, whichever is first; an error only when ctx ends. It watches the
// lease rather than polling it.
func (l *Lock) waitChange(ctx context.Context, rv string, until time.Time) error {
	wctx, cancel := context.WithDeadline(ctx, until.Add(time.Second))
	defer cancel()
	sel := fields.OneTermEqualSelector("metadata.name", l.name()).String()
	api := l.leases()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(c context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return api.List(c, o)
		},
		WatchFuncWithContext: func(c context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return api.Watch(c, o)
		},
	}
	_, err := watchtools.UntilWithSync(wctx, lw, &coordv1.Lease{}, nil, func(ev watch.Event) (bool, error) {
		le, ok := ev.Object.(*coordv1.Lease)
		return ev.Type == watch.Deleted || !ok || le.ResourceVersion != rv, nil
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err == nil || wctx.Err() != nil:
		return nil // changed, or stale by now: Acquire looks again
	}
	// No watch (the RBAC may grant only get and update on leases): wait for
	// the time it goes stale.
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
