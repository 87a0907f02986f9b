package cairntest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Example is a cairn command line of a code block in README.md.
type Example struct {
	Line int    // 1-based
	Text string // the shell line as written, its comment left out
}

func (e Example) String() string { return fmt.Sprintf("README.md:%d: %s", e.Line, e.Text) }

// NeedsCluster tells whether the example reaches a cluster: it names a
// kubeconfig, or reads or resumes a run's journal mirror. The unit tests run
// the others; the e2e tests run these against the local control plane.
func (e Example) NeedsCluster() bool {
	return regexp.MustCompile(`(^|\s)--(kubeconfig|cluster|from-cluster)(\s|=|$)`).MatchString(e.Text)
}

// cairnCommand finds cairn run as a command: first on the line, or inside
// <( ), $( ), or after a pipe or ; or && (not cairn inside a path or URL).
var cairnCommand = regexp.MustCompile(`(^|[\s(;|&])cairn(\s|\)|$)`)

// ReadmeExamples reads the repository's README.md (root: the repository's
// root) and returns its examples; a README without any fails the test.
func ReadmeExamples(t *testing.T, root string) []Example {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ex := Examples(string(md))
	if len(ex) == 0 {
		t.Fatal("README.md has no cairn example in a code block")
	}
	return ex
}

// Examples returns every line that runs cairn in a Markdown text's code
// blocks: fenced ones (```) and indented ones (four spaces, after a blank
// line). A comment is what follows " #", or, as in the indented blocks,
// two spaces or more after the command.
func Examples(md string) []Example {
	var out []Example
	fenced, indented, blankBefore := false, false, true
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		code := false
		switch {
		case strings.HasPrefix(trimmed, "```"):
			fenced = !fenced
			indented = false
		case fenced:
			code = true
		case trimmed == "":
		case strings.HasPrefix(line, "    ") && (blankBefore || indented):
			code, indented = true, true
		default:
			indented = false
		}
		blankBefore = trimmed == ""
		if !code {
			continue
		}
		if cmd := stripComment(trimmed); cairnCommand.MatchString(cmd) {
			out = append(out, Example{Line: i + 1, Text: cmd})
		}
	}
	return out
}

// stripComment cuts a shell line at its comment: an unquoted # at the
// start of a word, or the first unquoted run of two spaces or more.
func stripComment(s string) string {
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimSpace(s[:i])
		case r == ' ' && strings.HasPrefix(s[i:], "  "):
			return s[:i]
		}
	}
	return s
}

// Expand turns an example into the command lines it stands for: every
// optional part ([...], brackets as in `[STEP[ITEM]]` nested inside one)
// left out, then all of them given; and each alternative of a word with
// a|b, one line each. Placeholders are left for Substitute.
func Expand(text string) ([]string, error) {
	var without, with strings.Builder
	depth := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '[' && (depth > 0 || i == 0 || text[i-1] == ' '):
			if depth > 0 {
				with.WriteByte(c)
			}
			depth++
		case c == ']' && depth > 0:
			depth--
			if depth > 0 {
				with.WriteByte(c)
			}
		case depth > 0:
			with.WriteByte(c)
		default:
			with.WriteByte(c)
			without.WriteByte(c)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("an optional part [ has no ]")
	}
	seen := map[string]bool{}
	var out []string
	for _, line := range []string{without.String(), with.String()} {
		for _, alt := range alternatives(strings.Fields(line)) {
			if s := strings.Join(alt, " "); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// alternatives expands each word a|b (not a lone |, a pipe) into its
// choices: every combination.
func alternatives(words []string) [][]string {
	out := [][]string{nil}
	for _, w := range words {
		choices := []string{w}
		if w != "|" && strings.Contains(w, "|") && !strings.ContainsAny(w[:1], `"'`) {
			choices = strings.Split(w, "|")
		}
		var next [][]string
		for _, prefix := range out {
			for _, c := range choices {
				next = append(next, append(append([]string(nil), prefix...), c))
			}
		}
		out = next
	}
	return out
}

var (
	placeholderWord = regexp.MustCompile(`(^|[^$\w])[A-Z][A-Z0-9_]*\b|\.\.\.|[\[\]]`)
	envReference    = regexp.MustCompile(`\$\{?([A-Za-z_]\w*)`)
	unmappedShell   = regexp.MustCompile("^(\\||;|&&|\\|\\||&)$|`|\\$\\(")
)

// Substitute fills in the placeholders of an expanded line. values maps a
// word as the README writes it (RUN, STEP[ITEM], NEW.db, token=...) to
// what the test puts there, shell-quoted; env names the variables a $VAR
// may reference (the test sets them). Any other word in capitals, "...",
// a bracket, an unknown $VAR or a shell construct the tests do not map (a
// pipe, ;, &&, `...`, $(...)) is an error: the example cannot be run as
// the test understands it.
func Substitute(line string, values map[string]string, env ...string) (string, error) {
	words := strings.Fields(line)
	var errs []error
	inQuote := false
	for i, w := range words {
		if inQuote || strings.HasPrefix(w, `"`) || strings.HasPrefix(w, "'") {
			// A quoted argument (the README quotes only prose, such as a
			// --comment) is passed on as written.
			q := w[:1]
			if inQuote {
				q = `"`
			}
			inQuote = strings.Count(w, q)%2 == 1 != inQuote
			continue
		}
		if v, ok := values[w]; ok {
			words[i] = shellQuote(v)
			continue
		}
		if unmappedShell.MatchString(w) {
			errs = append(errs, fmt.Errorf("%q: a shell construct the test does not run", w))
			continue
		}
		for _, m := range envReference.FindAllStringSubmatch(w, -1) {
			if !contains(env, m[1]) {
				errs = append(errs, fmt.Errorf("$%s: a variable the test does not set", m[1]))
			}
		}
		if m := placeholderWord.FindString(strings.TrimPrefix(w, "<(")); m != "" {
			errs = append(errs, fmt.Errorf("%q: a placeholder with no value in the test's table", w))
		}
	}
	return strings.Join(words, " "), errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// FillTemplate fills in a params file made by `cairn playbooks show NAME
// --params-template` as a person would in an editor: each name's line
// (`name:` if required, `# name: default` if optional) becomes `name:
// "value"`. A name the template does not have, or a required parameter
// left empty, is an error.
func FillTemplate(template string, values map[string]string) (string, error) {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		re := regexp.MustCompile(`(?m)^(# )?` + regexp.QuoteMeta(n) + `:.*$`)
		if got := len(re.FindAllString(template, -1)); got != 1 {
			return "", fmt.Errorf("parameter %s: %d lines for it in the template, want 1", n, got)
		}
		template = re.ReplaceAllLiteralString(template, n+": "+strconv.Quote(values[n]))
	}
	if empty := regexp.MustCompile(`(?m)^[A-Za-z_]\w*:\s*$`).FindAllString(template, -1); len(empty) > 0 {
		return "", fmt.Errorf("required parameters left empty: %q", empty)
	}
	return template, nil
}
