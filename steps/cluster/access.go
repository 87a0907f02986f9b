package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Access is one invocation's way to its cluster. It loads the kubeconfig and
// builds clients on first use only, so that commands which never act on a
// cluster (validate, plan, playbooks) work without any kubeconfig.
type Access struct {
	Source        Source
	LockNamespace string        // default DefaultLockNamespace
	Timeout       time.Duration // connecting, locking; 0 means DefaultTimeout
	Log           zerolog.Logger

	// recorded is the cluster a resumed run was recorded against; see
	// Recorded.
	recorded map[string]string

	once sync.Once
	conn *Connection
	err  error
}

// Explicit reports whether the operator named a cluster (a kubeconfig or a
// context): then a run binds to it even if its playbook has only exec steps,
// which may well run kubectl.
func (a *Access) Explicit() bool { return a.Source.Kubeconfig != "" || a.Source.Context != "" }

// Recorded names the cluster a run was recorded against, before the first
// Connection: when the operator gave no context, the kubeconfig's context
// that reaches that cluster is used instead of the current one, so that
// `cairn resume` and `cairn rollback` act on the run's cluster whatever the
// shell's current context is. A context given with --context is used as
// given; either way the run's cluster identity is compared afterwards.
func (a *Access) Recorded(target map[string]string) { a.recorded = target }

// Connection loads the kubeconfig, once.
func (a *Access) Connection() (*Connection, error) {
	a.once.Do(func() {
		a.conn, a.err = Load(a.Source)
		if a.err == nil && a.Source.Context == "" && len(a.recorded) > 0 {
			if name := contextFor(a.conn.Raw, a.conn.Context, a.recorded); name != a.conn.Context {
				a.Log.Info().Str("context", name).Str("current", a.conn.Context).
					Msg("using the kubeconfig context that reaches the run's cluster, not the current one")
				a.conn, a.err = Load(Source{Kubeconfig: a.Source.Kubeconfig, Context: name})
			}
		}
		if a.err == nil {
			a.conn.Timeout, a.conn.Log = a.Timeout, a.Log
		}
	})
	return a.conn, a.err
}

// Clients is what Kubernetes step kinds get as their cluster.
func (a *Access) Clients() (*Clients, error) {
	if a == nil {
		return nil, ErrNotConfigured
	}
	conn, err := a.Connection()
	if err != nil {
		return nil, err
	}
	return conn.Clients()
}

// Connect reaches the cluster before anything runs: it returns the identity
// a run records and resume compares, and the lock to hold while steps run.
func (a *Access) Connect(ctx context.Context) (map[string]string, *Lock, error) {
	conn, err := a.Connection()
	if err != nil {
		return nil, nil, err
	}
	id, err := conn.Identity(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	cl, err := conn.Clients()
	if err != nil {
		return nil, nil, err
	}
	a.Log.Info().Str("target", TargetString(id)).Str("uid", id["kube-system-uid"]).Msg("connected")
	return id, &Lock{Client: cl.Kube, Namespace: a.LockNamespace, Timeout: a.Timeout, Log: a.Log}, nil
}

// TargetString shows a recorded target compactly: context@server.
func TargetString(t map[string]string) string {
	if len(t) == 0 {
		return "-"
	}
	ctx, server := t["context"], t["server"]
	switch {
	case ctx != "" && server != "":
		return ctx + "@" + server
	case server != "":
		return server
	}
	return t["kube-system-uid"]
}
