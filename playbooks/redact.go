package playbooks

import (
	"bytes"
	"encoding/json"
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
	// Step params reach the journal and plans as JSON, where a secret with
	// a quote, a backslash or a control character is escaped: hide that
	// form too.
	for _, s := range secrets {
		if j := jsonEscaped(s); j != s {
			list = append(list, j)
		}
	}
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

// jsonEscaped is s as it appears inside a JSON string, as encoded without
// HTML escaping (the way the journal and plans encode params).
func jsonEscaped(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return s
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	return out[1 : len(out)-1]
}
