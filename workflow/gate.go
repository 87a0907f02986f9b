package workflow

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cairn-dev/cairn/journal"
)

// Approve records who approved a waiting gate instance. item may be empty
// when exactly one instance of the step waits.
func (e *Engine) Approve(runID, step, item, comment string) (journal.Event, error) {
	st, err := e.Load(runID)
	if err != nil {
		return journal.Event{}, err
	}
	var waiting []*Instance
	for _, in := range st.Instances {
		if in.Step == step && in.Status == InstWaiting && (item == "" || in.Item == item) {
			waiting = append(waiting, in)
		}
	}
	switch len(waiting) {
	case 0:
		in, ok := st.Instances[Key(step, item)]
		status := "not started"
		if ok {
			status = string(in.Status)
		}
		return journal.Event{}, fmt.Errorf("run %s: step %s is %s, not waiting for approval (run is %s): %w", runID, Key(step, item), status, st.Status, ErrNoApproval)
	case 1:
	default:
		keys := make([]string, len(waiting))
		for i, in := range waiting {
			keys[i] = in.Item
		}
		return journal.Event{}, fmt.Errorf("run %s: step %s waits for several items (%s); name one with --item: %w", runID, step, strings.Join(keys, ", "), ErrNoApproval)
	}
	data, _ := json.Marshal(commentData{Comment: comment})
	return e.Journal.Append(runID, journal.Event{Type: EvGateApproved, Step: step, Item: waiting[0].Item, User: e.User, Data: data})
}
