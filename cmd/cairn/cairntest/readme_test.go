package cairntest

import (
	"slices"
	"strings"
	"testing"
)

func TestExamplesFromCodeBlocks(t *testing.T) {
	md := strings.Join([]string{
		"Prose naming `cairn runs` inline is no example.",
		"",
		"```sh",
		"go install github.com/cairn-dev/cairn/cmd/cairn@latest   # or: cairn version",
		"source <(cairn completion bash)   # or zsh",
		`cairn approve RUN ok --comment "a  # b"    # quoted text is kept`,
		"make demo",
		"```",
		"",
		"1. A list item",
		"   cairn show   (a list's continuation, not code)",
		"",
		"    cairn logs RUN                   every attempt",
		"    cairn logs RUN install",
		"",
		"    cairn runs --cluster",
		"Text right after.",
		"    cairn not-code   (no blank line before)",
	}, "\n")
	var got []string
	for _, e := range Examples(md) {
		got = append(got, e.String())
	}
	want := []string{
		"README.md:5: source <(cairn completion bash)",
		`README.md:6: cairn approve RUN ok --comment "a  # b"`,
		"README.md:13: cairn logs RUN",
		"README.md:14: cairn logs RUN install",
		"README.md:16: cairn runs --cluster",
	}
	if !slices.Equal(got, want) {
		t.Errorf("examples\n%q\nwant\n%q", got, want)
	}
}

func TestExpandOptionalPartsAndAlternatives(t *testing.T) {
	for text, want := range map[string][]string{
		"cairn logs RUN [STEP[ITEM]] [-f] [--attempt N]": {"cairn logs RUN", "cairn logs RUN STEP[ITEM] -f --attempt N"},
		"cairn show [RUN] [-o json|yaml]":                {"cairn show", "cairn show RUN -o json", "cairn show RUN -o yaml"},
		"cairn report RUN [-o FILE|-]":                   {"cairn report RUN", "cairn report RUN -o FILE", "cairn report RUN -o -"},
		"cairn playbooks":                                {"cairn playbooks"},
	} {
		got, err := Expand(text)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Expand(%q) = %q, %v; want %q", text, got, err, want)
		}
	}
	if _, err := Expand("cairn show [RUN"); err == nil {
		t.Error("an unclosed [ was accepted")
	}
}

func TestSubstituteRefusesWhatItCannotFill(t *testing.T) {
	values := map[string]string{"RUN": "20261203-0915", "STEP[ITEM]": "move[a b]", "token=...": "token=it's"}
	got, err := Substitute(`cairn resume RUN -p token=... --comment "SHOUT ..." > out.txt`, values)
	if want := `cairn resume '20261203-0915' -p 'token=it'\''s' --comment "SHOUT ..." > out.txt`; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if got, err := Substitute("cairn logs RUN STEP[ITEM] --kubeconfig $KUBECONFIG", values, "KUBECONFIG"); err != nil || got != "cairn logs '20261203-0915' 'move[a b]' --kubeconfig $KUBECONFIG" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, line := range []string{
		"cairn show NAME",                 // a placeholder with no value
		"cairn run x -p a=...",            // a value left out
		"cairn logs RUN [STEP]",           // an optional part not expanded
		"cairn run x --kubeconfig $K",     // a variable the test does not set
		"cairn journal export RUN | gzip", // a pipe
		"cairn show $(cairn runs -q)",     // a command substitution
	} {
		if _, err := Substitute(line, values); err == nil {
			t.Errorf("Substitute(%q) filled it in", line)
		}
	}
}

func TestFillTemplate(t *testing.T) {
	tmpl := "# Fill in the empty ones.\n\n# string; required\noldRev:\n\n# string; optional\n# istioctl: istioctl\n"
	got, err := FillTemplate(tmpl, map[string]string{"oldRev": "1-14-6", "istioctl": "/bin/istioctl"})
	if want := "# Fill in the empty ones.\n\n# string; required\noldRev: \"1-14-6\"\n\n# string; optional\nistioctl: \"/bin/istioctl\"\n"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if _, err := FillTemplate(tmpl, map[string]string{"istioctl": "x"}); err == nil || !strings.Contains(err.Error(), "oldRev") {
		t.Errorf("a required parameter left empty: %v", err)
	}
	if _, err := FillTemplate(tmpl, map[string]string{"oldRev": "x", "nope": "y"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("a parameter the template has not: %v", err)
	}
}
