package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/cairn-dev/cairn/playbooks"
)

// examples are the indented lines of a help text that start with cairn: the
// command, then an optional comment after two spaces or more. Descriptions
// indent them by 3; the printed help by 3 more.
func examples(text string, indent int) []string {
	re := regexp.MustCompile(`(?m)^ {` + fmt.Sprint(indent) + `}(cairn [^\n]*?)(?:\s{2,}[^\n]*)?$`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}

// The examples in `cairn --help` work as printed, in order, from a fresh
// journal: the demo needs no cluster. RUN and STEP are filled in, and
// /tmp/demo is moved into the test's directory.
func TestAppHelpExamplesRun(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	src, _ := playbooks.Builtin("demo")
	if err := os.WriteFile("my-upgrade.yaml", src, 0o600); err != nil {
		t.Fatal(err)
	}
	j := filepath.Join(dir, "j.db")
	help := cairn(t, j, "--help")
	lines := examples(help.stdout, 6)
	if len(lines) < 7 {
		t.Fatalf("found %d examples in\n%s", len(lines), help.stdout)
	}
	runID := ""
	for _, line := range lines {
		line = strings.ReplaceAll(line, "/tmp/demo", filepath.Join(dir, "demo"))
		line = strings.NewReplacer("RUN", runID, "STEP", "canary-ok", "COMMAND", "run").Replace(line)
		args := strings.Fields(line)[1:]
		if args[0] == "run" {
			args = append(args, "-p", "pace=0s") // the default 1s per action, minus the wait
		}
		r := cairn(t, j, args...)
		if r.code != ExitOK {
			t.Errorf("%s: exit %d\n%s%s", line, r.code, r.stdout, r.stderr)
		}
		if args[0] == "run" {
			runID = strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
		}
	}
	if effects, _ := os.ReadFile(filepath.Join(dir, "demo", "effects.log")); !strings.Contains(string(effects), "install asm-1140-0") {
		t.Errorf("the demo run left no effects:\n%s", effects)
	}
}

// Every example in every command's help names commands and flags that
// exist, and its parameters are the playbook's when it uses a built-in.
func TestCommandExamplesParse(t *testing.T) {
	app := newApp(nil, nil)
	var walk func(path string, cmds []*cli.Command)
	n := 0
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, line := range examples(c.Description, 3) {
				n++
				checkExample(t, app, path+" "+c.Name, line)
			}
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("cairn", app.Commands)
	for _, line := range examples(app.Description, 3) {
		n++
		checkExample(t, app, "cairn", line)
	}
	if n < 15 {
		t.Errorf("only %d examples found", n)
	}
}

func checkExample(t *testing.T, app *cli.App, where, line string) {
	t.Helper()
	args, err := interspersed(app, strings.Fields(strings.ReplaceAll(line, "COMMAND", "run")))
	if err != nil {
		t.Errorf("%s: example %q: %v", where, line, err)
		return
	}
	inv := invocationOf(app, args)
	cmds, flags := app.Commands, app.Flags
	var cmd *cli.Command
	for _, name := range inv.cmd {
		cmd = findCommand(cmds, name)
		cmds, flags = cmd.Subcommands, append(append([]cli.Flag(nil), app.Flags...), cmd.Flags...)
	}
	if cmd == nil || (len(cmds) > 0 && len(inv.pos) > 0 && cmd.Name != "playbooks") {
		t.Errorf("%s: example %q names no command", where, line)
		return
	}
	params := map[string]bool{}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") && a != "-" && !hasFlag(flags, a) && a != "--help" {
			t.Errorf("%s: example %q: %s is not a flag of cairn %s", where, line, a, strings.Join(inv.cmd, " "))
		}
	}
	for i, a := range args {
		if (a == "-p" || a == "--param") && i+1 < len(args) {
			name, _, _ := strings.Cut(args[i+1], "=")
			params[name] = true
		}
	}
	if len(inv.pos) == 0 || len(params) == 0 {
		return
	}
	src, ok := playbooks.Builtin(inv.pos[0])
	if !ok {
		return
	}
	var pb struct {
		Params map[string]any `yaml:"params"`
	}
	if err := yaml.Unmarshal(src, &pb); err != nil {
		t.Fatal(err)
	}
	for name := range params {
		if _, ok := pb.Params[name]; !ok {
			t.Errorf("%s: example %q: built-in %s has no parameter %s", where, line, inv.pos[0], name)
		}
	}
}
