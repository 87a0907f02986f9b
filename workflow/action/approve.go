package action

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
)

// ApproveOptions names the gate instance to approve.
type ApproveOptions struct {
	RunID, Step, Item, Comment string
}

// Approve records who approved a waiting gate, and when. It refuses a run
// whose journal does not verify: an approval chained onto a tampered
// history would bless it.
func (c *Config) Approve(o ApproveOptions) (journal.Event, error) {
	db, err := c.openExisting(context.Background())
	if err != nil {
		return journal.Event{}, err
	}
	defer db.Close()
	if o.RunID, err = resolveRun(db, o.RunID); err != nil {
		return journal.Event{}, err
	}
	run, err := db.Run(o.RunID)
	if err != nil {
		return journal.Event{}, err
	}
	if err := db.Verify(o.RunID); err != nil {
		return journal.Event{}, &UntrustedError{RunID: o.RunID, Err: err}
	}
	if err := c.checkGate(run, o.Step); err != nil {
		return journal.Event{}, err
	}
	return c.engine(db).Approve(o.RunID, o.Step, o.Item, o.Comment)
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
