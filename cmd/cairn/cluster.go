package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/workflow"
)

func clusterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILE` (default $KUBECONFIG, then ~/.kube/config)"},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig `CONTEXT` to use (default: the current context)"},
		&cli.StringFlag{Name: "lock-namespace", Value: kube.DefaultLockNamespace,
			Usage: "`NAMESPACE` of the Lease (" + kube.DefaultLockName + ") that keeps two runs off one cluster; every cairn against the cluster must use the same"},
	}
}

// clusterAccess loads the kubeconfig and builds clients on first use only,
// so that validate, plan and playbooks work without any kubeconfig.
type clusterAccess struct {
	src           kube.Source
	lockNamespace string
	log           zerolog.Logger

	once sync.Once
	conn *kube.Connection
	err  error
}

func newClusterAccess(c *cli.Context, log zerolog.Logger) *clusterAccess {
	return &clusterAccess{
		src:           kube.Source{Kubeconfig: c.String("kubeconfig"), Context: c.String("context")},
		lockNamespace: c.String("lock-namespace"),
		log:           log,
	}
}

func (a *clusterAccess) connection() (*kube.Connection, error) {
	a.once.Do(func() {
		a.conn, a.err = kube.Load(a.src)
		if a.err != nil {
			a.err = clusterError{a.err}
		}
	})
	return a.conn, a.err
}

// clients is what Kubernetes kinds get as their cluster.
func (a *clusterAccess) clients() (*steps.Cluster, error) {
	conn, err := a.connection()
	if err != nil {
		return nil, err
	}
	cl, err := conn.Cluster()
	if err != nil {
		return nil, clusterError{err}
	}
	return cl, nil
}

// explicit reports whether the operator named a cluster on the command line:
// then cairn connects even for a playbook of exec steps (which may well run
// kubectl), records the target and takes the lock.
func (a *clusterAccess) explicit() bool { return a.src.Kubeconfig != "" || a.src.Context != "" }

// needed tells whether an invocation acts on a cluster: its playbook has a
// Kubernetes kind anywhere, the run was recorded against one, or the
// operator named one.
func (a *clusterAccess) needed(pb *playbooks.Playbook, recorded map[string]string) bool {
	return a.explicit() || len(recorded) > 0 || usesCluster(pb)
}

// connect reaches the cluster before anything runs: it returns the identity
// a run records and resume compares, and the lock the engine holds.
func (a *clusterAccess) connect(ctx context.Context) (map[string]string, workflow.ClusterLock, error) {
	conn, err := a.connection()
	if err != nil {
		return nil, nil, err
	}
	id, err := conn.Identity(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, clusterError{err}
	}
	cl, err := conn.Cluster()
	if err != nil {
		return nil, nil, clusterError{err}
	}
	a.log.Info().Str("target", clusterString(id)).Str("uid", id["kube-system-uid"]).Msg("connected")
	return id, leaseLock{&kube.Lock{Client: cl.Kube, Namespace: a.lockNamespace, Log: a.log}}, nil
}

// usesCluster tells whether any step, check, undo or foreach source of pb is
// a Kubernetes kind.
func usesCluster(pb *playbooks.Playbook) bool {
	isKube := func(a *playbooks.Action) bool {
		return a != nil && (strings.HasPrefix(a.Kind, "kube.") || strings.HasPrefix(a.Kind, "istio."))
	}
	for _, st := range pb.Steps {
		if isKube(&st.Action) || isKube(st.Check) || isKube(st.Undo) || (st.Foreach != nil && isKube(st.Foreach.Source)) {
			return true
		}
	}
	return false
}

// leaseLock adapts the Lease to the engine's lock, keeping client-go out of
// the workflow package and mapping failures to exit codes.
type leaseLock struct{ lock *kube.Lock }

func (l leaseLock) Acquire(ctx context.Context, h workflow.LockHolder) (workflow.Held, error) {
	held, err := l.lock.Acquire(ctx, kube.Holder{User: h.User, Host: h.Host, RunID: h.RunID, Command: h.Command, PID: os.Getpid(), Since: h.Since})
	if err != nil {
		var he *kube.HeldError
		if errors.As(err, &he) || ctx.Err() != nil {
			return nil, err
		}
		return nil, clusterError{err}
	}
	return held, nil
}

// clusterString shows a recorded target compactly: context@server.
func clusterString(t map[string]string) string {
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
	return kvString(t)
}
