package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
)

// ApproveOptions names the gate instance to approve.
type ApproveOptions struct {
	RunID, Step, Item, Comment string
}

// Approved is an approval as recorded.
type Approved struct {
	RunID string // the run, its reference resolved
	Event journal.Event
	// Mirrored: the approval is in the run's journal mirror in the cluster
	// too. Unmirrored says why a mirrored run's approval is only local
	// (the cluster unreachable, or another one); the next resume writes it.
	Mirrored   bool
	Unmirrored error
}

// Approve records who approved a waiting gate, and when. It refuses a run
// whose journal does not verify: an approval chained onto a tampered
// history would bless it. A run mirrored in its cluster gets the approval
// there too, so that an operator elsewhere can resume it; a cluster that
// cannot be reached leaves the approval local (Approved.Unmirrored), while
// a mirror that went on without this journal is refused before anything
// is written (*cluster.ConflictError).
func (c *Config) Approve(ctx context.Context, o ApproveOptions) (Approved, error) {
	a, err := c.approve(ctx, &o)
	a.RunID = o.RunID
	return a, err
}

func (c *Config) approve(ctx context.Context, o *ApproveOptions) (Approved, error) {
	db, err := c.openExisting(ctx)
	if err != nil {
		return Approved{}, err
	}
	defer db.Close()
	if o.RunID, err = resolveRun(db, o.RunID); err != nil {
		return Approved{}, err
	}
	run, err := db.Run(o.RunID)
	if err != nil {
		return Approved{}, err
	}
	if err := db.Verify(o.RunID); err != nil {
		return Approved{}, &UntrustedError{RunID: o.RunID, Err: err}
	}
	if err := c.checkGate(run, o.Step); err != nil {
		return Approved{}, err
	}
	st, err := c.engine(db).Load(o.RunID)
	if err != nil {
		return Approved{}, err
	}
	var j workflow.Journal = db
	var unmirrored error
	if len(run.Target) > 0 && !st.NoMirror {
		var m *cluster.Mirror
		m, unmirrored = c.approvalMirror(ctx, db, run)
		var ce *cluster.ConflictError
		if errors.As(unmirrored, &ce) {
			return Approved{}, unmirrored
		}
		if m != nil {
			j = m
		}
	}
	ev, err := c.engine(j).Approve(o.RunID, o.Step, o.Item, o.Comment)
	var me *cluster.MirrorError
	if err != nil && ev.Seq > 0 && errors.As(err, &me) {
		return Approved{Event: ev, Unmirrored: err}, nil
	}
	if err != nil {
		return Approved{Event: ev}, err
	}
	return Approved{Event: ev, Mirrored: j != workflow.Journal(db), Unmirrored: unmirrored}, nil
}

// approvalMirror reaches the run's mirror for an approval: the cluster the
// run was recorded against, checked by identity, and its mirror attached
// (the same history as the journal). Nil and the reason when it cannot be
// used.
func (c *Config) approvalMirror(ctx context.Context, db *journal.DB, run journal.Run) (*cluster.Mirror, error) {
	if c.Cluster == nil {
		return nil, cluster.ErrNotConfigured
	}
	c.Cluster.Recorded(run.Target)
	id, _, err := c.Cluster.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if d := workflow.TargetDiff(run.Target, id); d != "" {
		return nil, fmt.Errorf("the kubeconfig reaches %s", d)
	}
	store, err := c.mirrorStore()
	if err != nil {
		return nil, err
	}
	m := &cluster.Mirror{Journal: db, Store: store, Sync: func(journal.Event) bool { return true },
		Writer: fmt.Sprintf("%s@%s pid %d", c.User, c.Host, os.Getpid())}
	if err := m.Attach(ctx, run.ID); err != nil {
		return nil, err
	}
	return m, nil
}

// checkGate refuses a step that the run's playbook (as journaled) does not
// have, or that is not a gate, naming the gates it has.
func (c *Config) checkGate(run journal.Run, step string) error {
	pb, err := playbooks.Load("journal:"+run.ID, run.Source, c.Registry())
	if err != nil {
		return nil // the engine's own check still holds
	}
	var gates []string
	kind := ""
	for _, s := range pb.Steps {
		if s.Kind == "gate" {
			gates = append(gates, s.ID)
		}
		if s.ID == step {
			kind = s.Kind
		}
	}
	list := "none"
	if len(gates) > 0 {
		list = strings.Join(gates, ", ")
	}
	switch kind {
	case "gate":
		return nil
	case "":
		return &InputError{fmt.Errorf("run %s (playbook %s) has no step %s; its gates: %s", run.ID, run.Playbook, step, list)}
	}
	return &InputError{fmt.Errorf("step %s of run %s is not a gate (its kind is %s); the run's gates: %s", step, run.ID, kind, list)}
}
