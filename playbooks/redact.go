package playbooks

import (
	"slices"
	"strings"
)

const redacted = "<redacted>"

// Redactor hides secret values in text bound for logs and the journal.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor builds a Redactor for the given secrets; empty ones are ignored.
func NewRedactor(secrets []string) *Redactor {
	list := slices.Clone(secrets)
	list = slices.DeleteFunc(list, func(s string) bool { return s == "" })
	// strings.Replacer tries olds in argument order at each position, so
	// longest first keeps "abc" from being half-replaced via its prefix "ab".
	slices.SortFunc(list, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	list = slices.Compact(list)
	if len(list) == 0 {
		return &Redactor{}
	}
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, redacted)
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// Redact replaces every occurrence of every secret with "<redacted>".
func (r *Redactor) Redact(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}
