package steps

import (
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/playbooks"
)

func runAssert(t *testing.T, p *AssertParams) (Result, error) {
	t.Helper()
	ex, err := NewRegistry(Deps{}).Executor("assert")
	if err != nil {
		t.Fatal(err)
	}
	return ex.Run(t.Context(), Instance{Params: p})
}

func TestAssertComparisons(t *testing.T) {
	cases := []struct {
		name string
		p    AssertParams
		want string // evidence on success, error text on failure
		pass bool
	}{
		{"equals pass", AssertParams{That: "1.15.4", Equals: "1.15.4"}, `"1.15.4" equals "1.15.4"`, true},
		{"equals fail", AssertParams{That: "1.14.6", Equals: "1.15.4"}, `assert failed: expected "1.15.4", got "1.14.6"`, false},
		{"notEquals pass", AssertParams{That: "a", NotEquals: "b"}, `"a" does not equal "b"`, true},
		{"notEquals fail", AssertParams{That: "b", NotEquals: "b"}, `assert failed: expected a value other than "b", got "b"`, false},
		{"in pass", AssertParams{That: "b", In: []string{"a", "b"}}, `"b" is one of ["a", "b"]`, true},
		{"in fail", AssertParams{That: "c", In: []string{"a", "b"}}, `assert failed: expected one of ["a", "b"], got "c"`, false},
		{"in empty value", AssertParams{That: "", In: []string{""}}, `"" is one of [""]`, true},
		{"matches pass", AssertParams{That: "1.22.3", Matches: `^1\.22\.`}, `"1.22.3" matches /^1\.22\./`, true},
		{"matches fail", AssertParams{That: "1.21.0", Matches: `^1\.22\.`}, `assert failed: expected a value matching /^1\.22\./, got "1.21.0"`, false},
		{"notEmpty pass", AssertParams{That: "x", NotEmpty: true}, `"x" is not empty`, true},
		{"notEmpty fail", AssertParams{That: "", NotEmpty: true}, `assert failed: expected a non-empty value, got ""`, false},
		{"message", AssertParams{That: "1", Equals: "2", Message: "the control plane must be upgraded first"},
			`assert failed: the control plane must be upgraded first: expected "2", got "1"`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			// A literal empty that does not load; the rendered ones run unvalidated.
			if errs := p.Validate(); p.That != "" && len(errs) != 0 {
				t.Fatalf("Validate() = %+v", errs)
			}
			res, err := runAssert(t, &p)
			if c.pass {
				if err != nil || res.Evidence != c.want {
					t.Errorf("got (%q, %v), want evidence %q", res.Evidence, err, c.want)
				}
				return
			}
			if err == nil || err.Error() != c.want || !isPermanent(err) {
				t.Errorf("error = %v (permanent %v), want permanent %q", err, isPermanent(err), c.want)
			}
		})
	}
}

// After rendering, the message names the reference; and a comparison value
// that rendered to "" is still the comparison that was written.
func TestAssertRendered(t *testing.T) {
	p := &AssertParams{That: "${steps.ver.version}", Equals: "${params.want}"}
	if errs := p.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	render := func(version, want string) *AssertParams {
		sc := &playbooks.Scope{
			Params: playbooks.Values{"want": want},
			Output: func(string, string) (string, error) { return version, nil },
		}
		r, err := playbooks.Render(p, sc)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*AssertParams)
	}
	_, err := runAssert(t, render("1.14.6", "1.15.4"))
	if want := `assert failed: expected "1.15.4", got "1.14.6" (that: ${steps.ver.version})`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	if _, err := runAssert(t, render("", "")); err != nil {
		t.Errorf(`"" equals "": %v`, err)
	}
	_, err = runAssert(t, render("1.14.6", ""))
	if err == nil || !strings.Contains(err.Error(), `expected "", got "1.14.6"`) {
		t.Errorf("equals rendered empty: error = %v", err)
	}
}

func TestAssertValidate(t *testing.T) {
	cases := []struct {
		name  string
		p     AssertParams
		field string
		msg   string
	}{
		{"no that", AssertParams{Equals: "x"}, "that", "is required"},
		{"no comparison", AssertParams{That: "x"}, "", `set one of equals, notEquals, in, matches or notEmpty: true; to assert that a value is empty use in: [""]`},
		{"empty equals is absent", AssertParams{That: "x", Equals: ""}, "", "set one of"},
		{"empty in", AssertParams{That: "x", In: []string{}}, "", "in must list at least one value"},
		{"notEmpty false", AssertParams{That: "x", NotEmpty: false}, "", "set one of"},
		{"two comparisons", AssertParams{That: "x", Equals: "a", Matches: "b"}, "matches", "set exactly one comparison, not equals and matches"},
		{"bad regex", AssertParams{That: "x", Matches: "(a"}, "matches", "invalid regex"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := c.p.Validate()
			if len(errs) != 1 || errs[0].Field != c.field || !strings.Contains(errs[0].Msg, c.msg) {
				t.Errorf("Validate() = %+v, want one error at %q containing %q", errs, c.field, c.msg)
			}
		})
	}
	if errs := (&AssertParams{That: "x", Matches: "(${params.re}"}).Validate(); len(errs) != 0 {
		t.Errorf("a regex holding a reference is checked at run time, got %+v", errs)
	}
}

func TestAssertUnvalidatedParams(t *testing.T) {
	if _, err := runAssert(t, &AssertParams{That: "a", Equals: "a"}); err != nil {
		t.Errorf("params built in code: %v", err)
	}
	if _, err := runAssert(t, &AssertParams{That: "a", Equals: "a", NotEmpty: true}); err == nil || !isPermanent(err) {
		t.Errorf("two comparisons: err = %v, want permanent", err)
	}
}
