package workflow

import "github.com/cairn-dev/cairn/playbooks"

// Pending lists, in the playbook's order, the instances of pb that the run
// has not reached: a step with no event yet, each frozen item of a foreach
// step not yet begun, and STEP[*] for a foreach step whose items are not
// known yet (they are frozen when it is first reached).
func (s *State) Pending(pb *playbooks.Playbook) []string {
	var out []string
	for _, st := range pb.Steps {
		if st.Foreach == nil {
			if _, ok := s.Instances[Key(st.ID, "")]; !ok {
				out = append(out, st.ID)
			}
			continue
		}
		items, ok := s.Items[st.ItemsID()]
		if !ok {
			out = append(out, Key(st.ID, "*"))
			continue
		}
		for _, it := range items {
			if _, ok := s.Instances[Key(st.ID, it)]; !ok {
				out = append(out, Key(st.ID, it))
			}
		}
	}
	return out
}
