package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cairn-dev/cairn/cmd/cairn/cairntest"
	"github.com/cairn-dev/cairn/playbooks"
)

// readmeSession is one person's session with the README's examples that
// need no cluster, in the order they make sense (the README lists them as
// a menu): every such example is in it, some twice, and nothing else. The
// examples that need a cluster run in playbooks/e2e's
// TestReadmeClusterExamples.
//
// Each line runs with bash as the real binary, with HOME the test's own
// (so the journal is the default ~/.local/state/cairn/journal.db) and the
// placeholders filled in from readmeValues. What the README assumes
// exists is made by the steps without an example (setup):
//
//	./my-upgrade.yaml  testdata/cli/my-upgrade.yaml: an upgrade on files
//	                   whose steps are the ones the examples name (install,
//	                   flaky, the gate canary-ok, a foreach step)
//	p.yaml             the params template, filled in as a person would
//	the run            `cairn run ./my-upgrade.yaml`, in place of the
//	                   README's `cairn run ... --kubeconfig`: it waits at
//	                   canary-ok, its flaky step retried once
var readmeSession = []readmeStep{
	{ex: "source <(cairn completion bash)", after: "complete -p cairn", check: outputs(0, `complete .*-F \S+ cairn`)},
	{ex: "cairn playbooks", check: outputs(0, `(?m)^istio-canary-tags `, `(?m)^asm-asmcli-canary `, `(?m)^anthos-bm-upgrade `, `(?m)^demo .*demo`)},
	{ex: "cairn playbooks show istio-canary-tags", check: outputs(0, `(?m)^PARAMETERS`, `(?m)^STEPS`, `(?m)^ROLLBACK`, `canary-ok`)},
	{ex: "cairn playbooks show istio-canary-tags --params-template > p.yaml", check: inFile("p.yaml", `(?m)^oldRev:$`, `(?m)^# istioctl: istioctl$`)},
	{ex: "cairn playbooks show istio-canary-tags --raw > mine.yaml", check: rawCopy},
	{setup: writeMyUpgrade},
	{ex: "cairn validate ./my-upgrade.yaml", check: outputs(0, `\./my-upgrade\.yaml: ok \(my-upgrade, 4 steps\)`)},
	{ex: "cairn playbooks schema > cairn-v1.schema.json", check: schemaFile},
	{setup: fillParams},
	{ex: "cairn plan istio-canary-tags --params-file p.yaml", check: outputs(0, `"istiod-1-14-6"`, `--revision","1-15-4"`, `"equals":"1\.15\.4"`, `canary-restart .*"namespace":"app-canary"`)},
	{setup: startRun},
	{ex: "cairn resume --plan", check: outputs(0, `run {RUN}`, `canary-ok\s+gate\s+wait .*waits for approval`, `move\[app-2\]\s+exec\s+run`)},
	{ex: "cairn resume", check: outputs(0, `run {RUN} is waiting for approval`)},
	{ex: "cairn runs [--status waiting-approval] [--playbook NAME]", check: outputs(0, `(?m)^{RUN}\s+my-upgrade\s+waiting-approval `)},
	{ex: `cairn approve RUN canary-ok --comment "error rate flat for 15m"`, check: outputs(0, `approved canary-ok of run {RUN}`)},
	{ex: "cairn resume", check: outputs(0, `run {RUN} succeeded`)},
	{ex: "cairn show [RUN] [--events] [-o json|yaml]", check: showRun},
	{ex: "cairn logs RUN", check: allLogs},
	{ex: "cairn logs RUN [STEP[ITEM]] [-f] [--attempt N]", check: itemLogs},
	{ex: "cairn logs RUN install", check: outputs(0, `^==> install attempt 1 \(succeeded\) <==\ninstalled the new control plane\n$`)},
	{ex: "cairn logs @latest install -f", check: outputs(0, `^==> install attempt 1 \(succeeded\) <==\ninstalled the new control plane\n$`)},
	{ex: "cairn logs RUN flaky --attempt 1 --timestamps", check: outputs(0, `^==> flaky attempt 1 \(failed\) <==\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z stderr not ready yet\n$`)},
	{ex: "cairn report RUN [-o FILE|-]", check: reportFile},
	{ex: "cairn journal verify [RUN]", check: outputs(0, `^{RUN}: ok \(\d+ events, head [0-9a-f]{64}\)\n$`)},
	{ex: "cairn journal export RUN", check: exported},
	{ex: "cairn rollback --plan RUN", check: outputs(0, `1\s+move\[app-3\]\s+exec\s+run\s+exec\s+undo`, `3\s+install\s+exec\s+run\s+exec\s+undo`)},
	{ex: "cairn rollback RUN", check: rolledBack},
}

// readmeValues are the placeholders of the examples the session runs,
// and what the test puts there; any other placeholder fails the test.
func readmeValues(run string) map[string]string {
	v := map[string]string{
		"NAME":       "my-upgrade",  // the run's playbook (runs --playbook NAME)
		"STEP[ITEM]": "move[app-2]", // an instance of its foreach step
		"N":          "1",           // --attempt N
		"FILE":       "audit.html",  // report -o FILE
	}
	if run != "" {
		v["RUN"] = run // the session's run, once it is started
	}
	return v
}

type readmeStep struct {
	ex    string // the example as README.md has it, its comment left out
	after string // shell run after the example in the same bash
	check func(t *testing.T, s *session, line string, r cairntest.ShellResult)
	setup func(t *testing.T, s *session)
}

type session struct {
	work, home string // the current directory; HOME
	env        []string
	run        string
}

func (s *session) shell(t *testing.T, line string) cairntest.ShellResult {
	t.Helper()
	return cairntest.Shell(t, time.Minute, s.work, s.env, line)
}

// The README's examples work as printed. Every cairn command line of its
// code blocks that needs no cluster runs here, each variant of its
// optional parts and alternatives, and must exit as expected and print
// what it says; one that is in no test, or whose placeholders the test
// cannot fill in, fails.
func TestReadmeExamplesRun(t *testing.T) {
	examples := cairntest.ReadmeExamples(t, repoRoot)
	inSession := map[string]bool{}
	for _, st := range readmeSession {
		inSession[st.ex] = true
	}
	byText := map[string]cairntest.Example{}
	for _, e := range examples {
		byText[e.Text] = e
		if !e.NeedsCluster() && !inSession[e.Text] {
			t.Errorf("%s: no test runs this example: add it to readmeSession", e)
		}
	}
	dir := t.TempDir()
	s := &session{work: filepath.Join(dir, "work"), home: filepath.Join(dir, "home")}
	for _, d := range []string{s.work, s.home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.env = []string{"HOME=" + s.home, "PATH=" + filepath.Dir(cairnBin) + ":" + os.Getenv("PATH")}
	for _, st := range readmeSession {
		if st.setup != nil {
			st.setup(t, s)
			continue
		}
		e, ok := byText[st.ex]
		if !ok || e.NeedsCluster() {
			t.Errorf("readmeSession runs %q, which README.md has not (or not without a cluster)", st.ex)
			continue
		}
		lines, err := cairntest.Expand(e.Text)
		if err != nil {
			t.Errorf("%s: %v", e, err)
			continue
		}
		for _, l := range lines {
			line, err := cairntest.Substitute(l, readmeValues(s.run))
			if err != nil {
				t.Errorf("%s: cannot run %q:\n%v", e, l, err)
				continue
			}
			r := s.shell(t, line+"\n"+st.after)
			t.Logf("README.md:%d: %s: exit %d", e.Line, line, r.Code)
			st.check(t, s, line, r)
		}
	}
}

// outputs checks the exit code and that stdout and stderr together match
// each regular expression ({RUN}: the session's run id).
func outputs(code int, patterns ...string) func(*testing.T, *session, string, cairntest.ShellResult) {
	return func(t *testing.T, s *session, line string, r cairntest.ShellResult) {
		t.Helper()
		if r.Code != code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", line, r.Code, code, r.Stdout, r.Stderr)
			return
		}
		for _, p := range patterns {
			p = strings.ReplaceAll(p, "{RUN}", regexp.QuoteMeta(s.run))
			if !regexp.MustCompile(p).MatchString(r.Stdout + r.Stderr) {
				t.Errorf("%s: output does not match %s\nstdout:\n%s\nstderr:\n%s", line, p, r.Stdout, r.Stderr)
			}
		}
	}
}

// inFile checks a clean exit and a file of the current directory.
func inFile(name string, patterns ...string) func(*testing.T, *session, string, cairntest.ShellResult) {
	return func(t *testing.T, s *session, line string, r cairntest.ShellResult) {
		t.Helper()
		outputs(0)(t, s, line, r)
		data, err := os.ReadFile(filepath.Join(s.work, name))
		if err != nil {
			t.Errorf("%s: %v", line, err)
		}
		for _, p := range patterns {
			if !regexp.MustCompile(p).Match(data) {
				t.Errorf("%s: %s does not match %s:\n%s", line, name, p, data)
			}
		}
	}
}

func rawCopy(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	outputs(0)(t, s, line, r)
	src, _ := playbooks.Builtin("istio-canary-tags")
	if got, err := os.ReadFile(filepath.Join(s.work, "mine.yaml")); err != nil || string(got) != string(src) {
		t.Errorf("%s: mine.yaml is not the built-in's text (%v)", line, err)
	}
}

func schemaFile(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	outputs(0)(t, s, line, r)
	var schema struct {
		Schema     string         `json:"$schema"`
		Properties map[string]any `json:"properties"`
	}
	data, _ := os.ReadFile(filepath.Join(s.work, "cairn-v1.schema.json"))
	if err := json.Unmarshal(data, &schema); err != nil || !strings.Contains(schema.Schema, "json-schema.org") || schema.Properties["steps"] == nil {
		t.Errorf("%s: not a JSON Schema of playbooks (%v):\n%.300s", line, err, data)
	}
}

// writeMyUpgrade puts the playbook the person adapted where the README
// validates it.
func writeMyUpgrade(t *testing.T, s *session) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "testdata/cli/my-upgrade.yaml"))
	if err == nil {
		err = os.WriteFile(filepath.Join(s.work, "my-upgrade.yaml"), src, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// fillParams fills in p.yaml as its header says: the empty (required)
// ones.
func fillParams(t *testing.T, s *session) {
	path := filepath.Join(s.work, "p.yaml")
	tmpl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	filled, err := cairntest.FillTemplate(string(tmpl), map[string]string{
		"oldRev": "1-14-6", "newRev": "1-15-4", "newVersion": "1.15.4", "canaryNamespace": "app-canary"})
	if err != nil {
		t.Fatalf("p.yaml: %v", err)
	}
	if err := os.WriteFile(path, []byte(filled), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startRun(t *testing.T, s *session) {
	r := s.shell(t, "cairn run ./my-upgrade.yaml -p workdir=effects")
	if r.Code != 0 || !strings.Contains(r.Stdout, "waiting for approval") {
		t.Fatalf("run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	s.run = strings.TrimSpace(s.shell(t, "cairn runs -q").Stdout)
}

func showRun(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	if !strings.Contains(line, " -o ") {
		outputs(0, `(?m)^run\s+{RUN}$`, `(?m)^status\s+succeeded$`, `canary-ok\s+succeeded\s+approved by \S+ error rate flat for 15m`)(t, s, line, r)
		return
	}
	outputs(0, `error rate flat for 15m`)(t, s, line, r)
	var v struct {
		Run struct {
			ID     string `json:"id" yaml:"id"`
			Status string `json:"status" yaml:"status"`
		} `json:"run" yaml:"run"`
		Events []struct {
			Type string `json:"type" yaml:"type"`
		} `json:"events" yaml:"events"`
	}
	var err error
	switch {
	case strings.HasSuffix(line, "json"):
		err = json.Unmarshal([]byte(r.Stdout), &v)
	default:
		err = yaml.Unmarshal([]byte(r.Stdout), &v)
	}
	if err != nil || v.Run.ID != s.run || v.Run.Status != "succeeded" || len(v.Events) < 10 {
		t.Errorf("%s: run %q %q with %d events (%v), want %s succeeded with its events", line, v.Run.ID, v.Run.Status, len(v.Events), err, s.run)
	}
}

func allLogs(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	outputs(0, `^==> install attempt 1 \(succeeded\) <==\ninstalled the new control plane\n`+
		`==> flaky attempt 1 \(failed\) <==\nnot ready yet\n==> flaky attempt 2 \(succeeded\) <==\nready\n`+
		`==> move\[app-2\] attempt 1 \(succeeded\) <==\nmoved app-2\n==> move\[app-3\] attempt 1 \(succeeded\) <==\nmoved app-3\n$`)(t, s, line, r)
}

func itemLogs(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	if !strings.Contains(line, "move") {
		allLogs(t, s, line, r)
		return
	}
	outputs(0, `^==> move\[app-2\] attempt 1 \(succeeded\) <==\nmoved app-2\n$`)(t, s, line, r)
}

func reportFile(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	file := "cairn-report-" + s.run + ".html"
	switch {
	case strings.HasSuffix(line, " -o -"):
		outputs(0, `^<!DOCTYPE html>`)(t, s, line, r)
		return
	case strings.Contains(line, " -o "):
		file = "audit.html"
	}
	outputs(0, "^"+regexp.QuoteMeta(file)+"\n$")(t, s, line, r)
	html, err := os.ReadFile(filepath.Join(s.work, file))
	if err != nil || !strings.HasPrefix(string(html), "<!DOCTYPE html>") || !strings.Contains(string(html), s.run) {
		t.Errorf("%s: %s is not the run's report (%v)", line, file, err)
	}
}

func exported(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	outputs(0)(t, s, line, r)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("%s: not a JSON line: %.200s", line, l)
		}
	}
	if !strings.HasPrefix(lines[0], `{"run":{"id":"`+s.run+`"`) || !strings.HasPrefix(lines[len(lines)-1], `{"head":{"seq":`) {
		t.Errorf("%s: want the run first and its head last:\n%.300s\n...\n%s", line, lines[0], lines[len(lines)-1])
	}
}

func rolledBack(t *testing.T, s *session, line string, r cairntest.ShellResult) {
	outputs(0, `run {RUN} rolled back`)(t, s, line, r)
	effects, _ := os.ReadFile(filepath.Join(s.work, "effects", "effects.log"))
	if want := "install new\nmove app-2\nmove app-3\nmove app-3 back\nmove app-2 back\nuninstall new\n"; string(effects) != want {
		t.Errorf("%s: effects.log\n%s\nwant\n%s", line, effects, want)
	}
}
