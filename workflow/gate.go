package workflow

import (
	"encoding/json"
	"sort"

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
		status := InstanceStatus("not started")
		if in, ok := st.Instances[Key(step, item)]; ok {
			status = in.Status
		}
		return journal.Event{}, &ApprovalError{RunID: runID, Step: step, Item: item, Status: status, Run: st.Status}
	case 1:
	default:
		keys := make([]string, len(waiting))
		for i, in := range waiting {
			keys[i] = in.Item
		}
		sort.Strings(keys)
		return journal.Event{}, &ApprovalError{RunID: runID, Step: step, Run: st.Status, Waiting: keys}
	}
	data, _ := json.Marshal(commentData{Comment: comment})
	return e.Journal.Append(runID, journal.Event{Type: EvGateApproved, Step: step, Item: waiting[0].Item, User: e.User, Data: data})
}
