package playbooks

import (
	"errors"
	"fmt"
	"strings"
)

// Condition is a parsed `when` expression:
//
//	A == B    A != B    A
//
// A lone operand is true iff it renders to "true" (any case). Operands are
// trimmed; quoting one with '...' or "..." keeps spaces or allows an empty
// value. The operator is found before rendering, so a value containing "=="
// cannot change the meaning of the expression.
type Condition struct {
	Source string
	Pos    Pos

	parsed      bool
	op          string // "", "==" or "!="
	left, right string // operand templates, quotes removed
}

// ParseCondition parses src; pos is where it appears, for the caller's errors.
func ParseCondition(src string, pos Pos) (*Condition, error) {
	c := &Condition{Source: src, Pos: pos}
	if err := c.parse(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Condition) parse() error {
	left, rest, err := operand(c.Source, true)
	if err != nil {
		return err
	}
	var op, right string
	if rest = strings.TrimSpace(rest); rest != "" {
		op = rest[:2]
		var tail string
		if right, tail, err = operand(rest[2:], false); err != nil {
			return err
		}
		if t := strings.TrimSpace(tail); t != "" {
			return fmt.Errorf("unexpected %q after the right operand; quote an operand that contains == or !=", t)
		}
	}
	// Operands are templates: reject a malformed ${ now, not at run time.
	for _, t := range []string{left, right} {
		if _, err := parseTemplate(t); err != nil {
			return err
		}
	}
	c.op, c.left, c.right, c.parsed = op, left, right, true
	return nil
}

var errNoOperand = errors.New("missing operand (write '' for an empty string)")

// operand reads one operand from the start of s and returns it with the
// remaining text, which starts at an operator (or is only spaces).
func operand(s string, first bool) (string, string, error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		if first {
			return "", "", errors.New("empty condition")
		}
		return "", "", errNoOperand
	}
	if q := s[0]; q == '\'' || q == '"' {
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return "", "", fmt.Errorf("unterminated quote %c in %q", q, s)
		}
		rest := s[end+2:]
		if t := strings.TrimSpace(rest); t != "" && !isOp(t) {
			return "", "", fmt.Errorf("unexpected %q after a quoted operand", t)
		}
		return s[1 : end+1], rest, nil
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", "", fmt.Errorf("unterminated reference %q: missing }", s[i:])
			}
			i += end + 1
		case isOp(s[i:]):
			if !first {
				return "", "", errors.New("more than one comparison operator; quote an operand that contains == or !=")
			}
			op := strings.TrimSpace(s[:i])
			if op == "" {
				return "", "", errNoOperand
			}
			return op, s[i:], nil
		default:
			i++
		}
	}
	return strings.TrimSpace(s), "", nil
}

func isOp(s string) bool { return strings.HasPrefix(s, "==") || strings.HasPrefix(s, "!=") }

// refs returns every reference in the condition's operands.
func (c *Condition) refs() ([]*ref, error) {
	if !c.parsed {
		if err := c.parse(); err != nil {
			return nil, err
		}
	}
	var all []*ref
	for _, t := range []string{c.left, c.right} {
		rs, err := refsOf(t)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	return all, nil
}

// Eval renders the operands in sc and compares them as strings.
func (c *Condition) Eval(sc *Scope) (bool, error) {
	if !c.parsed {
		if err := c.parse(); err != nil {
			return false, fmt.Errorf("when %q: %w", c.Source, err)
		}
	}
	l, err := RenderString(c.left, sc)
	if err != nil {
		return false, fmt.Errorf("when %q: %w", c.Source, err)
	}
	if c.op == "" {
		return strings.EqualFold(strings.TrimSpace(l), "true"), nil
	}
	r, err := RenderString(c.right, sc)
	if err != nil {
		return false, fmt.Errorf("when %q: %w", c.Source, err)
	}
	return (l == r) == (c.op == "=="), nil
}
