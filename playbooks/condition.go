package playbooks

// Condition is a parsed `when` expression. Placeholder: replaced by the loader work.
type Condition struct {
	Source string
	Pos    Pos
}
