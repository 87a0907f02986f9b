package playbooks

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a playbook (or params file), with its position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos.File == "" && e.Pos.Line == 0 {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Errors is every problem found in one file, sorted by position.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// errOrNil avoids handing callers a non-nil error interface around an empty list.
func (es Errors) errOrNil() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}

// errs collects problems against one file.
type errs struct {
	file     string
	list     Errors
	warnings Errors
}

// warnf records something valid but likely wrong; it does not fail the load.
func (c *errs) warnf(n *yaml.Node, format string, args ...any) {
	c.warnings = append(c.warnings, &Error{Pos: c.pos(n), Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) pos(n *yaml.Node) Pos { return Pos{File: c.file, Line: n.Line, Col: n.Column} }

func (c *errs) at(p Pos, format string, args ...any) {
	c.list = append(c.list, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) errorf(n *yaml.Node, format string, args ...any) {
	c.at(c.pos(n), format, args...)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax converts a yaml.v3 parse error, which carries a line but no column.
func (c *errs) syntax(err error, src []byte) {
	msg := err.Error()
	p := Pos{File: c.file}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		p.Col = syntaxColumn(src, p.Line, msg)
		if strings.Contains(msg, "cannot start any token") && src != nil && p.Col > 0 && lineHasTabAt(src, p.Line, p.Col) {
			msg += " (a tab; YAML indents with spaces)"
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	c.at(p, "invalid YAML: %s", msg)
}

// parseYAML decodes exactly one YAML document. ok is false after it has
// recorded an error (syntax, several documents, aliases); a nil root with ok
// means the file holds no document at all.
func (c *errs) parseYAML(src []byte) (root *yaml.Node, ok bool) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a playbook loader
		// must report, not crash.
		if r := recover(); r != nil {
			c.at(Pos{File: c.file}, "invalid YAML: %v", r)
			root, ok = nil, false
		}
	}()
	if !c.checkText(src) {
		return nil, false
	}
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, true
	} else if err != nil {
		c.syntax(err, src)
		return nil, false
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.syntax(err, src)
			return nil, false
		}
		// A bare trailing "---" (as templating tools emit) adds an empty
		// document; only one with content is a second playbook.
		if len(next.Content) == 1 && !(isNull(next.Content[0]) && next.Content[0].Value == "") {
			c.errorf(&next, "a second YAML document starts here; the file must hold exactly one")
			return nil, false
		}
	}
	if len(doc.Content) != 1 {
		return nil, true
	}
	if !c.plain(doc.Content[0]) {
		return nil, false
	}
	return doc.Content[0], true
}

var knownTags = map[string]bool{
	"!!str": true, "!!int": true, "!!bool": true, "!!float": true, "!!null": true,
	"!!map": true, "!!seq": true, "!!timestamp": true,
}

// plain rejects aliases (following them could blow up exponentially and
// would hide positions), merge keys and custom tags, which the strict
// decoder could not honour faithfully.
func (c *errs) plain(n *yaml.Node) bool {
	ok := true
	switch {
	case n.Kind == yaml.AliasNode:
		c.errorf(n, "YAML aliases (*%s) are not supported", n.Value)
		return false
	case n.ShortTag() == "!!merge":
		c.errorf(n, "YAML merge keys (<<) are not supported")
		ok = false
	case !knownTags[n.ShortTag()]:
		c.errorf(n, "unsupported YAML tag %s", n.Tag)
		ok = false
	}
	for _, ch := range n.Content {
		if !c.plain(ch) {
			ok = false
		}
	}
	return ok
}

type pair struct{ key, val *yaml.Node }

// pairs returns the entries of a mapping node, reporting duplicate and
// non-scalar keys; where names the mapping in messages.
func (c *errs) pairs(n *yaml.Node, where string) []pair {
	seen := map[string]*yaml.Node{}
	var out []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.errorf(k, "%s: keys must be strings, got %s", where, describeNode(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.errorf(k, "duplicate key %s in %s (first at line %d)", k.Value, where, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	return out
}

// strict is pairs plus a check that every key is in allowed.
func (c *errs) strict(n *yaml.Node, where string, allowed ...string) map[string]pair {
	out := map[string]pair{}
	for _, p := range c.pairs(n, where) {
		if !contains(allowed, p.key.Value) {
			c.errorf(p.key, "unknown field %s in %s; allowed: %s", p.key.Value, where, strings.Join(allowed, ", "))
			continue
		}
		out[p.key.Value] = p
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a bool"
		case "!!null":
			return "null"
		case "!!timestamp":
			return "a timestamp"
		}
	}
	return "a scalar"
}

// scalarString accepts any scalar as text: like yaml.v3, a string field
// given 3 or true gets "3" or "true", and null is "".
func (c *errs) scalarString(n *yaml.Node, what string) (string, bool) {
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		c.errorf(n, "%s: expected a string, got %s", what, describeNode(n))
		return "", false
	}
	return n.Value, true
}
