package playbooks

// checkPointsOfNoReturn requires a person's go-ahead before each
// irreversible step: an unconditional gate (no when of its own or of its
// group) after the previous irreversible step and before this one. A gate
// that may be skipped, or one that already approved an earlier point of no
// return, does not count.
func (l *loader) checkPointsOfNoReturn() {
	gated := false
	for _, st := range l.pb.Steps {
		switch {
		case st.Kind == "gate" && st.When == nil && (st.Group == nil || st.Group.When == nil):
			gated = true
		case st.Irreversible != "":
			if !gated {
				l.at(st.IrreversiblePos, "step %s is irreversible, so a gate must come before it (an unconditional gate after any earlier irreversible step): a person approves each point of no return", st.ID)
			}
			gated = false
		}
	}
}
