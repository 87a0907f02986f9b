package action

import (
	"github.com/cairn-dev/cairn/journal"
)

// ApproveOptions names the gate instance to approve.
type ApproveOptions struct {
	RunID, Step, Item, Comment string
}

// Approve records who approved a waiting gate, and when. It refuses a run
// whose journal does not verify: an approval chained onto a tampered
// history would bless it.
func (c *Config) Approve(o ApproveOptions) (journal.Event, error) {
	db, err := c.openExisting()
	if err != nil {
		return journal.Event{}, err
	}
	defer db.Close()
	if _, err := db.Run(o.RunID); err != nil {
		return journal.Event{}, err
	}
	if err := db.Verify(o.RunID); err != nil {
		return journal.Event{}, &UntrustedError{RunID: o.RunID, Err: err}
	}
	return c.engine(db).Approve(o.RunID, o.Step, o.Item, o.Comment)
}
