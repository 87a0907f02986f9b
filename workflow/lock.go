package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-dev/cairn/journal"
)

// ClusterLock keeps two runs (other processes, other journals) from acting
// on one cluster at once. The engine holds it while it executes a run's
// steps, and releases it when the invocation ends, also at a gate. The
// implementation lives with the cluster code (steps/kube), so that this
// package needs no client.
type ClusterLock interface {
	// Acquire takes the lock or fails, naming the holder if it is held.
	Acquire(ctx context.Context, holder LockHolder) (Held, error)
}

// LockHolder says who holds the lock, for the message another run gets.
type LockHolder struct {
	User    string
	Host    string
	RunID   string
	Command string // run, resume or rollback
	Since   time.Time
}

// Held is a lock this process holds.
type Held interface {
	// TakenOver describes the previous holder of a stale lock that was
	// taken over, or is "".
	TakenOver() string
	// Lost is closed when the lock is no longer ours: renewing it failed
	// for longer than it lasts, or another run took it.
	Lost() <-chan struct{}
	// Err says why the lock was lost.
	Err() error
	Release(context.Context) error
}

// EvLockTakenOver records that a stale lock left by another run (or an
// earlier, dead process of this one) was taken over; Evidence names it.
const EvLockTakenOver = "lock.takenover"

// ErrLockLost is the cause of a run stopped because it lost the lock.
var ErrLockLost = errors.New("cluster lock lost")

// releaseTimeout bounds the release when the invocation ends; a lease that
// cannot be released expires by itself.
const releaseTimeout = 30 * time.Second

// lockRun takes the cluster lock for a run, if the engine has one. The
// returned context is cancelled, with ErrLockLost as its cause, when the
// lock is lost; done releases the lock and must be called when the
// invocation ends.
func (e *Engine) lockRun(ctx context.Context, runID, verb string) (context.Context, Held, func(), error) {
	if e.Lock == nil {
		return ctx, nil, func() {}, nil
	}
	held, err := e.Lock.Acquire(ctx, LockHolder{User: e.User, Host: e.Host, RunID: runID, Command: verb, Since: e.Now()})
	if err != nil {
		return ctx, nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	go func() {
		select {
		case <-held.Lost():
			cancel(fmt.Errorf("%w: %v", ErrLockLost, held.Err()))
		case <-stop:
		}
	}()
	done := func() {
		close(stop)
		cancel(nil)
		rctx, rcancel := context.WithTimeout(context.Background(), releaseTimeout)
		defer rcancel()
		if err := held.Release(rctx); err != nil {
			e.Log.Warn().Err(err).Msg("releasing the cluster lock")
		}
	}
	return ctx, held, done, nil
}

// noteTakeover journals a takeover once the run's record exists.
func (r *runCtx) noteTakeover(held Held) error {
	if held == nil || held.TakenOver() == "" {
		return nil
	}
	return r.append(journal.Event{Type: EvLockTakenOver, User: r.e.User, Evidence: held.TakenOver()})
}

// lockLost adds the reason to the error of a run the lock loss stopped, so
// the operator learns why it stopped and that resume continues it.
func lockLost(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if err == nil || !errors.Is(cause, ErrLockLost) {
		return err
	}
	return fmt.Errorf("%w: %w", err, cause)
}
