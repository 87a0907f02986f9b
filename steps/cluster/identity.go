package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identity is what a run records about its cluster, and what resume compares:
// the context and server it was reached through, and the UID of the
// kube-system namespace, which is created once per cluster and never
// changes, so two clusters behind the same address are told apart.
func (c *Connection) Identity(ctx context.Context) (map[string]string, error) {
	cl, err := c.Clients()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	var uid string
	err = DoNotify(ctx, func(ctx context.Context) error {
		ns, err := cl.Kube.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err == nil {
			uid = string(ns.UID)
		}
		return err
	}, c.logRetry)
	switch {
	case err == nil:
		return map[string]string{"context": c.Context, "server": c.Server, "kube-system-uid": uid}, nil
	case apierrors.IsUnauthorized(err):
		return nil, c.unreachable(fmt.Errorf("the credentials were rejected (%w); renew them, e.g. log in again", err))
	case apierrors.IsForbidden(err):
		return nil, c.unreachable(fmt.Errorf("cairn reads namespace kube-system to identify the cluster, and may not: %w", err))
	}
	return nil, c.unreachable(err)
}

// ErrUnreachable marks a cluster that could not be reached or would not
// answer cairn.
var ErrUnreachable = errors.New("cluster unreachable")

// UnreachableError names the server and context that failed, since with
// several kubeconfig files merged the operator may not know which was used.
type UnreachableError struct {
	Server  string
	Context string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot use cluster %s (context %q): %v", e.Server, e.Context, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) hold.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

func (c *Connection) unreachable(err error) error {
	return &UnreachableError{Server: c.Server, Context: c.Context, Err: err}
}

// logRetry says at once that the cluster does not answer, and why (a
// connection refused is told from a timeout), then each further attempt:
// silence until the timeout would look like a hang.
func (c *Connection) logRetry(attempt int, err error, next time.Duration) {
	ev := c.Log.Info()
	msg := "still cannot reach the cluster; retrying"
	if attempt == 1 {
		ev = c.Log.Warn()
		msg = fmt.Sprintf("cannot reach the cluster; retrying for up to %s", c.timeout())
	}
	ev.Str("server", c.Server).Str("context", c.Context).Int("attempt", attempt).
		Str("retry_in", next.Round(time.Millisecond).String()).Str("error", err.Error()).Msg(msg)
}
