package workflow

import (
	"fmt"

	"github.com/cairn-dev/cairn/playbooks"
)

// secretItems refuses a foreach list holding a secret's value. Items are
// structure: the journal keeps them in clear to resume the same items, and
// show, plan and approve name instances by them. Redacting them would
// change what a resume does, so they are refused instead; the message
// names the item by position, never by value.
func secretItems(id string, items []string, pb *playbooks.Playbook, vals playbooks.Values) error {
	for i, it := range items {
		if name := vals.SecretIn(pb, it); name != "" {
			return &playbooks.SecretError{Where: fmt.Sprintf("step %s: foreach item %d", id, i+1), Secret: name}
		}
	}
	return nil
}

// knownSecretItems applies secretItems to every foreach list that is known
// before the run (a literal list, a list parameter) and not frozen yet, so
// that such a run is refused before anything is journaled or runs.
func knownSecretItems(pb *playbooks.Playbook, vals playbooks.Values, frozen map[string][]string) error {
	seen := map[string]bool{}
	for _, st := range pb.Steps {
		fe, id := st.Foreach, st.ItemsID()
		if fe == nil || fe.Source != nil || seen[id] {
			continue
		}
		seen[id] = true
		if _, ok := frozen[id]; ok {
			continue
		}
		items, _ := vals[fe.Param].([]string)
		if fe.Param == "" {
			items = nil
			sc := &playbooks.Scope{Params: vals}
			for _, it := range fe.Items {
				// An item using an earlier step's output is checked
				// when the run expands it.
				v, err := playbooks.RenderString(it, sc)
				if err != nil {
					v = ""
				}
				items = append(items, v)
			}
		}
		if err := secretItems(id, items, pb, vals); err != nil {
			return err
		}
	}
	return nil
}
