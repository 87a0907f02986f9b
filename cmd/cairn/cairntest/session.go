package cairntest

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Session runs README examples one after another, as a person would in
// one shell: each line with bash (Shell) in Dir with Env, its placeholders
// filled in (Substitute) from Values as they are when it runs.
type Session struct {
	Dir     string
	Env     []string
	Vars    []string                 // the variables of Env that an example may reference as $VAR
	Values  map[string]string        // placeholder, as the README writes it -> value; setup steps add to it
	Fresh   map[string]func() string // placeholders that get a new value for each line (NEW.db)
	Timeout time.Duration            // for one line; a minute if zero
}

// Step is an example (as README.md writes it, its comment left out) and
// what it must do, or a setup step between examples.
type Step struct {
	Example string
	After   string // shell run after the example in the same bash, to see its effect there
	Check   Check
	Setup   func(t *testing.T)
}

// Check judges one line's run.
type Check func(t *testing.T, line string, r ShellResult)

// Run runs the steps in order, each example once per variant (Expand).
// The steps must cover the README's examples that mine selects, and name
// no other example: an example no step runs, a step whose example the
// README has not, and a placeholder the session cannot fill in each fail
// the test.
func (s *Session) Run(t *testing.T, examples []Example, mine func(Example) bool, steps []Step) {
	t.Helper()
	byText := map[string]Example{}
	for _, e := range examples {
		byText[e.Text] = e
	}
	run := map[string]bool{}
	for _, st := range steps {
		run[st.Example] = true
	}
	for _, e := range examples {
		if mine(e) && !run[e.Text] {
			t.Errorf("%s: no test runs this example: add it to the test's steps", e)
		}
	}
	for _, st := range steps {
		if st.Setup != nil {
			st.Setup(t)
			continue
		}
		e, ok := byText[st.Example]
		if !ok {
			t.Errorf("the test runs %q, which is not an example of README.md", st.Example)
			continue
		}
		lines, err := Expand(e.Text)
		if err != nil {
			t.Errorf("%s: %v", e, err)
			continue
		}
		for _, l := range lines {
			values := map[string]string{}
			for k, v := range s.Values {
				values[k] = v
			}
			for k, f := range s.Fresh {
				values[k] = f()
			}
			line, err := Substitute(l, values, s.Vars...)
			if err != nil {
				t.Errorf("%s: cannot run %q:\n%v", e, l, err)
				continue
			}
			timeout := s.Timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			r := Shell(t, timeout, s.Dir, s.Env, line+"\n"+st.After)
			t.Logf("README.md:%d: %s: exit %d", e.Line, line, r.Code)
			st.Check(t, line, r)
		}
	}
}

// Outputs checks the exit code, and that stdout and stderr together match
// each regular expression; {NAME} in one stands for the session's value
// of placeholder NAME.
func (s *Session) Outputs(code int, patterns ...string) Check {
	return func(t *testing.T, line string, r ShellResult) {
		t.Helper()
		if r.Code != code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", line, r.Code, code, r.Stdout, r.Stderr)
			return
		}
		for _, p := range patterns {
			for k, v := range s.Values {
				p = strings.ReplaceAll(p, "{"+k+"}", regexp.QuoteMeta(v))
			}
			if !regexp.MustCompile(p).MatchString(r.Stdout + r.Stderr) {
				t.Errorf("%s: the output does not match %s\nstdout:\n%s\nstderr:\n%s", line, p, r.Stdout, r.Stderr)
			}
		}
	}
}

// ShellResult is what a shell line did.
type ShellResult struct {
	Code           int
	Stdout, Stderr string
}

// Shell runs a line with bash, as a person would type it, in dir with env
// (nothing inherited), and fails the test if bash cannot be started or the
// line takes longer than timeout.
func Shell(t *testing.T, timeout time.Duration, dir string, env []string, line string) ShellResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: not done after %s\nstdout:\n%s\nstderr:\n%s", line, timeout, out.String(), errb.String())
	case err != nil && !errors.As(err, &ee):
		t.Fatalf("%s: %v", line, err)
	}
	return ShellResult{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}
