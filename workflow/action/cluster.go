package action

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
)

// needsCluster tells whether an invocation acts on a cluster: its playbook
// has a kind that needs one (in a step, check, undo or foreach source) or a
// ${cluster.*} reference, the run was recorded against one, or the operator
// named one.
func (c *Config) needsCluster(pb *playbooks.Playbook, recorded map[string]string) bool {
	if len(recorded) > 0 || pb.ClusterRefs || (c.Cluster != nil && c.Cluster.Explicit()) {
		return true
	}
	reg := c.Registry()
	for _, k := range pb.Kinds() {
		if reg.NeedsCluster(k) {
			return true
		}
	}
	return false
}

// binding is one invocation's hold on its cluster.
type binding struct {
	workflow.Binding
	lock  workflow.ClusterLock
	tools *cluster.ToolKubeconfig
}

// release removes the tools' kubeconfig; the engine releases the lock.
func (b *binding) release() {
	if b != nil && b.tools != nil {
		_ = b.tools.Remove()
	}
}

// bind reaches the cluster before anything runs, when the invocation needs
// one: the identity a run records and resume compares, the lock the engine
// holds, and a kubeconfig selecting exactly that cluster for the tools the
// steps run.
func (c *Config) bind(ctx context.Context, pb *playbooks.Playbook, recorded map[string]string) (*binding, error) {
	if !c.needsCluster(pb, recorded) {
		return &binding{}, nil
	}
	if c.Cluster == nil {
		return nil, &ClusterError{cluster.ErrNotConfigured}
	}
	id, lock, err := c.Cluster.Connect(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, err
		}
		return nil, &ClusterError{err}
	}
	conn, err := c.Cluster.Connection()
	if err != nil {
		return nil, &ClusterError{err}
	}
	tools, err := conn.WriteToolKubeconfig(c.ToolDir)
	if err != nil {
		return nil, err
	}
	return &binding{
		Binding: workflow.Binding{Target: id, Kubeconfig: tools.Path, Context: tools.Context},
		lock:    leaseLock{lock: lock, journal: c.journalID()},
		tools:   tools,
	}, nil
}

// journalID is the journal file's absolute path, or "" if it has none.
func (c *Config) journalID() string {
	path, err := c.JournalFile()
	if err != nil {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// leaseLock adapts the Lease to the engine's lock, so that the workflow
// package needs no client, and marks failures to reach the cluster.
type leaseLock struct {
	lock    *cluster.Lock
	journal string // the journal file, as given; "" for the default
	// wait makes a held lock a wait, not a refusal (--wait-lock); each new
	// holder waited on is logged.
	wait bool
	log  zerolog.Logger
}

// lockFor is the lock the engine holds for an invocation; with wait, a lock
// another process holds is waited for.
func (b *binding) lockFor(wait bool, log zerolog.Logger) workflow.ClusterLock {
	if l, ok := b.lock.(leaseLock); ok && wait {
		l.wait, l.log = true, log
		return l
	}
	return b.lock
}

func (l leaseLock) Acquire(ctx context.Context, h workflow.LockHolder) (workflow.Held, error) {
	holder := cluster.Holder{User: h.User, Host: h.Host, RunID: h.RunID, Command: h.Command, PID: os.Getpid(), Since: h.Since, Journal: l.journal}
	var held *cluster.HeldLease
	var err error
	if l.wait {
		last := ""
		held, err = l.lock.AcquireWaiting(ctx, holder, func(he *cluster.HeldError) {
			if he.Identity != last {
				last = he.Identity
				l.log.Info().Str("holder", he.Identity).Time("stale", he.Stale.UTC()).
					Msg("the cluster lock is held by another cairn; waiting (--wait-lock) until it is released, or taken over once stale")
			}
		})
	} else {
		held, err = l.lock.Acquire(ctx, holder)
	}
	if err != nil {
		var he *cluster.HeldError
		if errors.As(err, &he) || ctx.Err() != nil {
			return nil, err
		}
		return nil, &ClusterError{err}
	}
	return held, nil
}
