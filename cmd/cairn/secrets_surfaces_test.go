package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/runlog"
)

func cliBook(name string) string { return filepath.Join(repoRoot, "testdata/cli", name) }

// bin runs the built binary, as an operator would, with the secret in the
// environment (CAIRN_TEST_TOK) and out of its command line.
func bin(t *testing.T, journal, secret string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(cairnBin, append([]string{"--log-format", "json", "--journal", journal}, args...)...)
	cmd.Env = append(os.Environ(), "CAIRN_TEST_TOK="+secret)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliResult{code, out.String(), errb.String()}
}

// needles are the forms a secret could be printed or stored in: as it is,
// JSON-escaped (with and without HTML escaping), Go-quoted, base64, and
// HTML-escaped as html/template writes text (the report), also after JSON
// escaping; for a long one also pieces of it, as a cut through it would
// leave.
func needles(secret string) map[string]string {
	q := strconv.Quote(secret)
	j, _ := json.Marshal(secret)
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(secret)
	p := strings.TrimSuffix(plain.String(), "\n")
	out := map[string]string{
		"raw":                     secret,
		"json-escaped":            string(j[1 : len(j)-1]),
		"json-escaped, no html":   p[1 : len(p)-1],
		"go-quoted":               q[1 : len(q)-1],
		"base64":                  base64.StdEncoding.EncodeToString([]byte(secret)),
		"html-escaped":            template.HTMLEscapeString(secret),
		"json, then html-escaped": template.HTMLEscapeString(string(j[1 : len(j)-1])),
	}
	if n := len(secret); n > 200 {
		out["first 64 bytes"], out["middle 64 bytes"], out["last 64 bytes"] = secret[:64], secret[n/2:n/2+64], secret[n-64:]
	}
	return out
}

// assertNoSecret fails for each surface whose bytes hold a form of secret.
func assertNoSecret(t *testing.T, secret string, surfaces map[string]string) {
	t.Helper()
	for name, text := range surfaces {
		for form, n := range needles(secret) {
			if strings.Contains(text, n) {
				t.Errorf("%s holds the secret (%s):\n%.3000s", name, form, text)
			}
		}
	}
}

// surfaces runs secret-surfaces.yaml with secret through every command that
// shows a run, and returns each command's output, the report, the output
// files kept beside the journal and the journal's bytes. With cluster
// flags (--kubeconfig and --lock-namespace) the run is bound to that
// cluster and mirrored there, and the commands that read the mirror
// (--cluster) are surfaces too; the caller adds the mirror's ConfigMaps.
func surfaces(t *testing.T, secret, fail string, cluster ...string) map[string]string {
	t.Helper()
	j := filepath.Join(t.TempDir(), "j.db")
	params := []string{"--param-from-env", "tok=CAIRN_TEST_TOK", "-p", "fail=" + fail}
	out := map[string]string{}
	keep := func(name string, r cliResult) cliResult {
		out[name] = r.stdout + r.stderr
		return r
	}
	book := cliBook("secret-surfaces.yaml")
	if r := keep("run", bin(t, j, secret, append(append([]string{"run", book}, params...), cluster...)...)); r.code != ExitOK || !strings.Contains(r.stdout, "the token is <redacted>") {
		t.Fatalf("run: exit %d, the gate message not shown redacted:\n%s%s", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(bin(t, j, secret, "runs", "-q").stdout)
	if r := keep("approve", bin(t, j, secret, append([]string{"approve", id, "wait"}, cluster...)...)); r.code != ExitOK {
		t.Fatalf("approve: exit %d\n%s", r.code, r.stderr)
	}
	r := keep("resume", bin(t, j, secret, append(append([]string{"resume", id}, params...), cluster...)...))
	if r.code != ExitFailed || !strings.Contains(r.stderr, "cairn: ") || !strings.Contains(r.stderr, "<redacted>") {
		t.Fatalf("resume: exit %d, want 1 and the error line redacted:\n%s", r.code, r.stderr)
	}
	keep("runs", bin(t, j, secret, "runs"))
	keep("journal export", bin(t, j, secret, "journal", "export", id))
	keep("journal verify", bin(t, j, secret, "journal", "verify"))
	for _, f := range []string{"table", "json", "yaml"} {
		keep("show -o "+f, bin(t, j, secret, "show", id, "--events", "-o", f))
		keep("plan -o "+f, bin(t, j, secret, append([]string{"plan", book, "-o", f}, params...)...))
		rp := keep("resume --plan -o "+f, bin(t, j, secret, append(append([]string{"resume", id, "--plan", "-o", f}, params...), cluster...)...))
		if rp.code != ExitOK || !strings.Contains(rp.stdout, "<redacted>") {
			t.Errorf("resume --plan -o %s: exit %d, no <redacted> (a vacuous test?):\n%s%s", f, rp.code, rp.stdout, rp.stderr)
		}
	}
	if len(cluster) > 0 {
		keepRead := func(want string, args ...string) {
			name := strings.Join(args, " ") + " --cluster"
			if r := keep(name, bin(t, j, secret, append(append(args, "--cluster"), cluster...)...)); r.code != ExitOK || !strings.Contains(r.stdout, want) && !(want == "<redacted>" && showsRedacted(r.stdout)) {
				t.Errorf("%s: exit %d, no %s shown (a vacuous test?):\n%s%s", name, r.code, want, r.stdout, r.stderr)
			}
		}
		keepRead(id, "runs")
		keepRead("<redacted>", "journal", "export", id)
		keepRead("head", "journal", "verify", id)
		for _, f := range []string{"table", "json", "yaml"} {
			keepRead("<redacted>", "show", id, "--events", "-o", f)
		}
	}
	for _, flags := range [][]string{nil, {"--timestamps"}} {
		name := strings.Join(append([]string{"logs"}, flags...), " ")
		if r := keep(name, bin(t, j, secret, append([]string{"logs", id}, flags...)...)); r.code != ExitOK || !strings.Contains(r.stdout, "<redacted>") {
			t.Errorf("%s: exit %d, no <redacted> (a vacuous test?):\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
	keptFiles(t, secret, j, id, out)
	return out
}

// keptFiles adds to out the files a run leaves: the report cairn report
// writes, each attempt's output file beside the journal, and the journal.
func keptFiles(t *testing.T, secret, j, id string, out map[string]string) {
	t.Helper()
	report := filepath.Join(filepath.Dir(j), "report.html")
	if r := bin(t, j, secret, "report", id, "-o", report); r.code != ExitOK {
		t.Fatalf("report: exit %d\n%s", r.code, r.stderr)
	}
	out["the report"] = readFile(t, report)
	if !strings.Contains(out["the report"], "&lt;redacted&gt;") {
		t.Errorf("the report shows no &lt;redacted&gt; (a vacuous test?):\n%.3000s", out["the report"])
	}
	files := 0
	err := filepath.WalkDir(runlog.Dir(j), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
			out["output file "+filepath.Base(path)] = readFile(t, path)
		}
		return err
	})
	// echo, the three items of loop, and boom when it is the step that fails.
	if err != nil || files < 4 {
		t.Errorf("%d output files under %s (%v), want one per attempt of an exec step", files, runlog.Dir(j), err)
	}
	out["the journal file"] = readFile(t, j)
}

// showsRedacted tells whether text holds "<redacted>", as it is or as JSON
// with HTML escaping writes it.
func showsRedacted(text string) bool {
	return strings.Contains(text, "<redacted>") || strings.Contains(text, `\u003credacted\u003e`)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// longSecret is longer than the 1024-byte window an error quotes of a
// tool's output, and has no repeats, so that any piece of it is telling.
func longSecret() string {
	var b strings.Builder
	for i := 0; b.Len() < 1500; i++ {
		fmt.Fprintf(&b, "L%04d-", i)
	}
	return b.String()
}

// nastySecrets are the secrets every surface is checked with, named for
// what they hold (not by their value: a test's temporary directory is named
// after it, and a path holding the secret would be refused or printed).
// A secret equal to an item is refused before the run instead (D1).
func nastySecrets() []struct{ name, value string } {
	return []struct{ name, value string }{
		{"quote-backslash", `q"uo\te`},
		{"newline-control", "new\nline\x01\x1b[31m"},
		{"true-angle", "is-true<x>"},
		{"item-name-html", "beta&'<i>"},
		{"longer-than-tail", longSecret()},
	}
}

// D2: no surface prints a secret: run (the gate message), approve, the
// error line of a failed exec (its stderr tail) and of a failed assert
// (got "..."), show, export, runs, plan and resume --plan in every format,
// logs, the output files, the HTML report, and the journal file. The
// secrets hold quotes, backslashes, newlines, control characters, true,
// <, >, & and an item's name, and one is longer than the tail window.
// TestSecretOnEverySurfaceMirrored (integration) adds the cluster's copy.
func TestSecretOnEverySurface(t *testing.T) {
	for _, s := range nastySecrets() {
		for _, fail := range []string{"exec", "assert"} {
			t.Run(s.name+"/"+fail, func(t *testing.T) {
				t.Parallel()
				assertNoSecret(t, s.value, surfaces(t, s.value, fail))
			})
		}
	}
}

// D2 for what an undo and a check print: secret-phases.yaml's step is
// killed as it starts, so resume runs its check, which prints the secret
// and fails; the run then fails and rollback runs its undo, which prints it
// and fails too. Neither their output files, logs, the log lines streamed
// by resume and rollback, their error lines, show, export, the report nor
// the journal hold it.
func TestSecretInUndoAndCheckOutput(t *testing.T) {
	for _, s := range nastySecrets() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			j := filepath.Join(t.TempDir(), "j.db")
			env := []string{"CAIRN_TEST_TOK=" + s.value}
			params := []string{"--param-from-env", "tok=CAIRN_TEST_TOK"}
			out := map[string]string{}
			keep := func(name string, code int, r cliResult) {
				out[name] = r.stdout + r.stderr
				if r.code != code {
					t.Fatalf("%s: exit %d, want %d\n%s%s", name, r.code, code, r.stdout, r.stderr)
				}
			}
			keep("run", -1, binEnv(t, j, append(env, "CAIRN_KILL_AT=instance.started:put"), append([]string{"run", cliBook("secret-phases.yaml")}, params...)...))
			id := strings.TrimSpace(binEnv(t, j, nil, "runs", "-q").stdout)
			keep("resume", ExitFailed, binEnv(t, j, env, append([]string{"resume", id}, params...)...))
			keep("rollback", ExitFailed, binEnv(t, j, env, append([]string{"rollback", id}, params...)...))
			for _, flags := range [][]string{nil, {"--timestamps"}} {
				name := strings.Join(append([]string{"logs"}, flags...), " ")
				keep(name, ExitOK, binEnv(t, j, env, append([]string{"logs", id, "put"}, flags...)...))
				for _, want := range []string{"==> put check attempt 1 (not in place) <==", "check <redacted>", "==> put undo attempt 1 (failed) <==", "undo <redacted>"} {
					if !strings.Contains(out[name], want) {
						t.Errorf("%s shows no %q (a vacuous test?):\n%s", name, want, out[name])
					}
				}
			}
			keep("show", ExitOK, binEnv(t, j, env, "show", id, "--events", "-o", "json"))
			keep("journal export", ExitOK, binEnv(t, j, env, "journal", "export", id))
			keptFiles(t, s.value, j, id, out)
			for _, f := range []string{"put.check.1.log", "put.undo.1.log"} {
				if _, ok := out["output file "+f]; !ok {
					t.Errorf("no output file %s", f)
				}
			}
			assertNoSecret(t, s.value, out)
		})
	}
}

// failWith runs secret-fail.yaml, whose step prints or quotes secret and
// fails, and returns the error line and the journal's bytes; fail says
// which step.
func failWith(t *testing.T, secret, fail string) map[string]string {
	t.Helper()
	j := filepath.Join(t.TempDir(), "j.db")
	r := bin(t, j, secret, "run", cliBook("secret-fail.yaml"), "--param-from-env", "tok=CAIRN_TEST_TOK", "-p", "fail="+fail)
	if r.code != ExitFailed {
		t.Fatalf("run: exit %d, want 1:\n%s", r.code, r.stderr)
	}
	raw, err := os.ReadFile(j)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"the error line": r.stderr, "the journal file": string(raw)}
}

// D3: a secret that is escaped when encoded or quoted (a quote, a
// backslash, a newline, a control character) is redacted as text, before
// encoding: neither its raw nor an escaped form (JSON's, or Go's in
// assert's got "...") reaches the journal.
func TestSecretD3EscapedForms(t *testing.T) {
	secret := "a\"b\\c\nd\te\x02"
	for _, fail := range []string{"exec", "assert"} {
		s := failWith(t, secret, fail)
		assertNoSecret(t, secret, map[string]string{fail + ": the journal file": s["the journal file"]})
	}
}

// D5: a secret longer than the window an error quotes of stderr is
// redacted before the cut, so no piece of it is left in the journaled
// error or the error line.
func TestSecretD5CutByTheTailWindow(t *testing.T) {
	secret := longSecret()
	s := failWith(t, secret, "exec")
	if !strings.Contains(s["the error line"], "stderr tail: <redacted>") {
		t.Errorf("the error line does not quote the redacted tail:\n%s", s["the error line"])
	}
	assertNoSecret(t, secret, s)
}
