package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HeldLease is a lock held by this process. It renews itself until Release
// and closes Lost when it can no longer claim the lock.
type HeldLease struct {
	lock      *Lock
	holder    Holder
	takenOver string

	ctx    context.Context // ends renewals; cancelled by Release
	cancel context.CancelFunc
	done   chan struct{} // closed when the renewal loop has returned

	mu  sync.Mutex
	cur *coordv1.Lease // as last written or read, for its resourceVersion
	err error          // why it was lost

	lost     chan struct{}
	lostOnce sync.Once
}

// lostError means someone else holds the lease now.
type lostError struct{ by string }

func (e *lostError) Error() string { return "another run took the cluster lock: " + e.by }

func (l *Lock) start(cur *coordv1.Lease, h Holder, taken string) *HeldLease {
	ctx, cancel := context.WithCancel(context.Background())
	le := &HeldLease{lock: l, holder: h, takenOver: taken, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), cur: cur, lost: make(chan struct{})}
	go le.keep()
	return le
}

// TakenOver describes the holder a stale lease was taken from, or is "".
func (le *HeldLease) TakenOver() string { return le.takenOver }

// Lost is closed when the lock is no longer ours.
func (le *HeldLease) Lost() <-chan struct{} { return le.lost }

// Err says why the lock was lost; nil while it is held.
func (le *HeldLease) Err() error {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.err
}

func (le *HeldLease) markLost(err error) {
	le.lostOnce.Do(func() {
		le.mu.Lock()
		le.err = err
		le.mu.Unlock()
		le.lock.Log.Error().Err(err).Msg("cluster lock lost")
		close(le.lost)
	})
}

// keep renews the lease every Renew. A renewal that fails is retried every
// two seconds: an outage shorter than the lease's duration costs nothing.
// The lock is lost when someone else holds the lease, or when no renewal
// has succeeded for the lease's duration, since from then on another run
// may take it over.
func (le *HeldLease) keep() {
	defer close(le.done)
	l := le.lock
	lastOK := time.Now()
	failing := false
	t := time.NewTimer(l.renew())
	defer t.Stop()
	for {
		select {
		case <-le.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(le.ctx, min(l.renew(), 10*time.Second))
		err := le.renewOnce(ctx)
		cancel()
		var lost *lostError
		switch {
		case le.ctx.Err() != nil:
			return
		case err == nil:
			if failing {
				l.Log.Info().Dur("after", time.Since(lastOK).Round(time.Second)).Msg("cluster lock renewed again")
			}
			lastOK, failing = time.Now(), false
			t.Reset(l.renew())
		case errors.As(err, &lost):
			le.markLost(err)
			return
		case time.Since(lastOK) >= l.duration():
			le.markLost(fmt.Errorf("could not renew lease %s/%s for %s, so another run may take it over: %w",
				l.namespace(), l.name(), l.duration(), err))
			return
		default:
			if !failing {
				l.Log.Warn().Err(err).Time("lostAt", time.Now().Add(l.duration()-time.Since(lastOK))).
					Msg("cannot renew the cluster lock; retrying (the run goes on while the lease lasts)")
			}
			failing = true
			t.Reset(min(2*time.Second, l.renew()))
		}
	}
}

func (le *HeldLease) current() *coordv1.Lease {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.cur
}

func (le *HeldLease) setCurrent(cur *coordv1.Lease) {
	le.mu.Lock()
	le.cur = cur
	le.mu.Unlock()
}

func (le *HeldLease) renewOnce(ctx context.Context) error {
	next := le.current().DeepCopy()
	now := metav1.NewMicroTime(le.lock.now())
	next.Spec.RenewTime = &now
	updated, err := le.lock.leases().Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		updated, err = le.refresh(ctx)
	}
	if err != nil {
		return err
	}
	le.setCurrent(updated)
	return nil
}

// refresh reads the lease again after a conflict. Still ours (a renewal that
// timed out on our side but went through) means renew it again; someone
// else's means the lock is lost. A lease deleted behind our back is created
// again: nobody else holds it.
func (le *HeldLease) refresh(ctx context.Context) (*coordv1.Lease, error) {
	l := le.lock
	cur, err := l.leases().Get(ctx, l.name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		created, err := l.create(ctx, le.holder)
		if apierrors.IsAlreadyExists(err) {
			return nil, &lostError{by: "a new lease was created by another run after ours was deleted"}
		}
		return created, err
	}
	if err != nil {
		return nil, err
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != le.holder.identity() {
		return nil, &lostError{by: describeHolder(cur)}
	}
	next := cur.DeepCopy()
	now := metav1.NewMicroTime(l.now())
	next.Spec.RenewTime = &now
	return l.leases().Update(ctx, next, metav1.UpdateOptions{})
}

func describeHolder(le *coordv1.Lease) string {
	if h, ok := holderOf(le); ok {
		return h.String()
	}
	if le.Spec.HolderIdentity == nil || *le.Spec.HolderIdentity == "" {
		return "nobody (the lease was released by someone else)"
	}
	return *le.Spec.HolderIdentity
}

// Release stops renewing and deletes the lease, if it is still ours: the
// delete is conditional on the UID and resourceVersion we last saw, so a
// lease someone else took over meanwhile is left alone. If the cluster
// cannot be reached the lease simply expires after its duration.
func (le *HeldLease) Release(ctx context.Context) error {
	le.cancel()
	<-le.done
	var lost *lostError
	if errors.As(le.Err(), &lost) {
		return nil
	}
	l := le.lock
	ctx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	for {
		cur := le.current()
		uid, rv := cur.UID, cur.ResourceVersion
		err := Do(ctx, func(ctx context.Context) error {
			return l.leases().Delete(ctx, l.name(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
		})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("cluster lock: cannot release lease %s/%s (it expires %s after its last renewal): %w",
				l.namespace(), l.name(), l.duration(), err)
		}
		// Our last renewal may have gone through unseen: look again.
		fresh, err := l.leases().Get(ctx, l.name(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cluster lock: cannot release lease %s/%s: %w", l.namespace(), l.name(), err)
		}
		if fresh.Spec.HolderIdentity == nil || *fresh.Spec.HolderIdentity != le.holder.identity() {
			return nil
		}
		le.setCurrent(fresh)
	}
}
