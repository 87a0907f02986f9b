package workflow

import (
	"bytes"
	"encoding/json"

	"github.com/cairn-dev/cairn/playbooks"
)

type rendered struct {
	value any    // with the secrets, for the step
	json  string // without them: what the journal and plans show
}

// renderParams renders a step's params. Its JSON is redacted string by
// string before it is encoded, so a secret is hidden however JSON escapes it.
func renderParams(params any, sc *playbooks.Scope, red *playbooks.Redactor) (rendered, error) {
	v, err := playbooks.Render(params, sc)
	if err != nil {
		return rendered{}, err
	}
	// Unescaped, so that the audit shows `a > b`, not `a \u003e b`.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return rendered{value: v}, nil
	}
	text, err := red.RedactJSON(buf.Bytes())
	if err != nil {
		return rendered{value: v}, nil
	}
	return rendered{value: v, json: text}, nil
}
