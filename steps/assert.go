package steps

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cairn-dev/cairn/playbooks"
)

// AssertParams are the params of the assert kind: That is compared by
// exactly one of Equals, NotEquals, In, Matches or NotEmpty.
type AssertParams struct {
	That      string   `yaml:"that" json:"that"`
	Equals    string   `yaml:"equals" json:"equals,omitempty"`
	NotEquals string   `yaml:"notEquals" json:"notEquals,omitempty"`
	In        []string `yaml:"in" json:"in,omitempty"`
	Matches   string   `yaml:"matches" json:"matches,omitempty"`
	NotEmpty  bool     `yaml:"notEmpty" json:"notEmpty,omitempty"`
	Message   string   `yaml:"message" json:"message,omitempty"`

	// Validate records which comparison was written and what That said
	// before rendering: once `equals: ${steps.a.v}` renders to "", it looks
	// like no equals at all, and failure messages should name the
	// reference, not only its value. playbooks.Render carries unexported
	// fields over to the rendered copy.
	op      string
	thatSrc string
}

const emptyHint = `to assert that a value is empty use in: [""]`

// Validate enforces exactly one comparison. A literal empty string counts as
// absent, since the loader cannot tell `equals: ""` from no equals.
func (p *AssertParams) Validate() []playbooks.FieldError {
	var errs []playbooks.FieldError
	if p.That == "" {
		errs = append(errs, playbooks.FieldError{Field: "that", Msg: "is required: the value to check, usually a reference such as ${steps.ID.NAME}"})
	}
	set := p.setOps()
	switch len(set) {
	case 0:
		msg := "set one of equals, notEquals, in, matches or notEmpty: true; " + emptyHint
		if p.In != nil {
			msg = "in must list at least one value"
		}
		errs = append(errs, playbooks.FieldError{Msg: msg})
	case 1:
		p.op = set[0]
	default:
		errs = append(errs, playbooks.FieldError{Field: set[1], Msg: "set exactly one comparison, not " + strings.Join(set, " and ")})
	}
	if p.op == "matches" {
		if msg := checkRegex(p.Matches); msg != "" {
			errs = append(errs, playbooks.FieldError{Field: "matches", Msg: msg})
		}
	}
	p.thatSrc = p.That
	return errs
}

func (p *AssertParams) setOps() []string {
	var set []string
	add := func(ok bool, name string) {
		if ok {
			set = append(set, name)
		}
	}
	add(p.Equals != "", "equals")
	add(p.NotEquals != "", "notEquals")
	add(len(p.In) > 0, "in")
	add(p.Matches != "", "matches")
	add(p.NotEmpty, "notEmpty")
	return set
}

func assertKind() Kind {
	return Kind{
		Name:      "assert",
		Summary:   "fail the run unless a value compares as expected",
		NewParams: func() any { return &AssertParams{} },
		New:       func() (Executor, error) { return assertion{}, nil },
		ReadOnly:  true,
	}
}

type assertion struct{}

// Run compares; a failed assertion is Permanent because the values it saw
// are fixed once rendered.
func (assertion) Run(ctx context.Context, in Instance) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	p, ok := in.Params.(*AssertParams)
	if !ok {
		return Result{}, Permanent(fmt.Errorf("assert: params are %T, not *AssertParams (a bug)", in.Params))
	}
	op := p.op
	if op == "" {
		// Built in code rather than loaded: judge by what is set.
		set := p.setOps()
		if len(set) != 1 {
			return Result{}, Permanent(errors.New("assert: set exactly one of equals, notEquals, in, matches or notEmpty"))
		}
		op = set[0]
	}
	// Quoting cuts a long value: secrets are redacted before the cut.
	q := func(s string) string { return quote(in.Redactor.Redact(s)) }
	qList := func(list []string) string {
		r := make([]string, len(list))
		for i, s := range list {
			r[i] = in.Redactor.Redact(s)
		}
		return quoteList(r)
	}
	v := p.That
	var pass bool
	var expected, evidence string
	switch op {
	case "equals":
		pass = v == p.Equals
		expected, evidence = q(p.Equals), q(v)+" equals "+q(p.Equals)
	case "notEquals":
		pass = v != p.NotEquals
		expected, evidence = "a value other than "+q(p.NotEquals), q(v)+" does not equal "+q(p.NotEquals)
	case "in":
		pass = slices.Contains(p.In, v)
		expected, evidence = "one of "+qList(p.In), q(v)+" is one of "+qList(p.In)
	case "matches":
		re, err := regexp.Compile(p.Matches)
		if err != nil {
			return Result{}, Permanent(fmt.Errorf("assert: matches: invalid regex: %w", err))
		}
		pass = re.MatchString(v)
		expected, evidence = "a value matching /"+p.Matches+"/", q(v)+" matches /"+p.Matches+"/"
	case "notEmpty":
		pass = v != ""
		expected, evidence = "a non-empty value", q(v)+" is not empty"
	default:
		return Result{}, Permanent(fmt.Errorf("assert: unknown comparison %q (a bug)", op))
	}
	if pass {
		return Result{Evidence: evidence}, nil
	}
	msg := "assert failed: "
	if p.Message != "" {
		msg += p.Message + ": "
	}
	msg += "expected " + expected + ", got " + q(v)
	if p.thatSrc != "" && p.thatSrc != v {
		msg += " (that: " + p.thatSrc + ")"
	}
	return Result{Evidence: msg}, Permanent(errors.New(msg))
}

// quote bounds a value in messages: an assert on a whole command output must
// not flood the journal.
func quote(s string) string {
	const limit = 256
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:limit]) + fmt.Sprintf("... (%d bytes)", len(s))
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
