package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
)

// IsTransient tells whether an API error may go away by itself: the server
// is unreachable, overloaded, timing out or restarting.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 500 {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	var oerr *net.OpError
	return errors.As(err, &oerr)
}

// Do calls fn until it succeeds, fails for a reason that is not transient,
// or ctx ends. Backoff grows from 200ms to 5s, so a restarting API server is
// picked up within seconds of its return.
//
// The loop is written out rather than using wait.ExponentialBackoff: that
// stops for good once the delay reaches its cap (Steps drops to 0), which
// gave up after about 6s instead of retrying until ctx ends.
func Do(ctx context.Context, fn func(context.Context) error) error {
	return DoNotify(ctx, fn, nil)
}

// DoNotify is Do that tells notify of each transient failure, numbered from
// 1, and how long it waits before the next attempt.
func DoNotify(ctx context.Context, fn func(context.Context) error, notify func(attempt int, err error, next time.Duration)) error {
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !IsTransient(err) {
			return err
		}
		if ctx.Err() != nil {
			return gaveUp(ctx, err)
		}
		next := wait.Jitter(delay, 0.2)
		if notify != nil {
			notify(attempt, err, next)
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return gaveUp(ctx, err)
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// gaveUp keeps both the reason for stopping (a step timeout, an interrupt)
// and the error that was being retried, which is what the operator can act on.
func gaveUp(ctx context.Context, last error) error {
	if errors.Is(last, ctx.Err()) {
		return last
	}
	return fmt.Errorf("%w; last error: %w", ctx.Err(), last)
}
