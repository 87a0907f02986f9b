package workflow

import (
	"bytes"
	"encoding/json"

	"github.com/cairn-dev/cairn/playbooks"
)

type rendered struct {
	value any
	json  string // what the journal keeps as the instance's inputs
}

func renderParams(params any, sc *playbooks.Scope) (rendered, error) {
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
	return rendered{value: v, json: string(bytes.TrimSpace(buf.Bytes()))}, nil
}
