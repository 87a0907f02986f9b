package kube

import (
	"context"
	"errors"
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
func Do(ctx context.Context, fn func(context.Context) error) error {
	var last error
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: 5 * time.Second}
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		last = fn(ctx)
		if last == nil {
			return true, nil
		}
		if IsTransient(last) {
			return false, nil
		}
		return false, last
	})
	if err != nil && last != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || wait.Interrupted(err)) {
		return errors.Join(err, last)
	}
	return err
}
