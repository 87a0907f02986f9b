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

// readmeSteps are one person's session with the README's examples that
// need no cluster, in the order they make sense (the README lists them as
// a menu): every such example is in it, some twice, and nothing else. The
// examples that need a cluster run in playbooks/e2e's
// TestReadmeClusterExamples.
//
// Each line runs with bash and the real binary, with HOME the test's own
// (so the journal is the default ~/.local/state/cairn/journal.db), its
// placeholders filled in from the session's values:
//
//	RUN         the session's run, once it is started
//	NAME        its playbook (runs --playbook NAME): my-upgrade
//	STEP[ITEM]  an instance of its foreach step: move[app-2]
//	N           --attempt N: 1
//	FILE        report -o FILE: audit.html
//
// What the README assumes exists is made by the setup steps:
//
//	./my-upgrade.yaml  testdata/cli/my-upgrade.yaml: an upgrade on files
//	                   whose steps are the ones the examples name (install,
//	                   flaky, the gate canary-ok, a foreach step)
//	p.yaml             the params template, filled in as a person would
//	the run            `cairn run ./my-upgrade.yaml`, in place of the
//	                   README's `cairn run ... --kubeconfig`: it waits at
//	                   canary-ok, its flaky step retried once
func readmeSteps(s *readmeSession) []cairntest.Step {
	out := s.Outputs
	return []cairntest.Step{
		{Example: "source <(cairn completion bash)", After: "complete -p cairn", Check: out(0, `complete .*-F \S+ cairn`)},
		{Example: "cairn playbooks", Check: out(0, `(?m)^istio-canary-tags `, `(?m)^asm-asmcli-canary `, `(?m)^anthos-bm-upgrade `, `(?m)^demo .*demo`)},
		{Example: "cairn playbooks show istio-canary-tags", Check: out(0, `(?m)^PARAMETERS`, `(?m)^STEPS`, `(?m)^ROLLBACK`, `canary-ok`)},
		{Example: "cairn playbooks show istio-canary-tags --params-template > p.yaml", Check: s.inFile("p.yaml", `(?m)^oldRev:$`, `(?m)^# istioctl: istioctl$`)},
		{Example: "cairn playbooks show istio-canary-tags --raw > mine.yaml", Check: s.rawCopy},
		{Setup: s.writeMyUpgrade},
		{Example: "cairn validate ./my-upgrade.yaml", Check: out(0, `\./my-upgrade\.yaml: ok \(my-upgrade, 4 steps\)`)},
		{Example: "cairn playbooks schema > cairn-v1.schema.json", Check: s.schemaFile},
		{Setup: s.fillParams},
		{Example: "cairn plan istio-canary-tags --params-file p.yaml", Check: out(0, `"istiod-1-14-6"`, `--revision","1-15-4"`, `"equals":"1\.15\.4"`, `canary-restart .*"namespace":"app-canary"`)},
		{Setup: s.startRun},
		{Example: "cairn resume --plan", Check: out(0, `run {RUN}`, `canary-ok\s+gate\s+wait .*waits for approval`, `move\[app-2\]\s+exec\s+run`)},
		{Example: "cairn resume", Check: out(0, `run {RUN} is waiting for approval`)},
		{Example: "cairn runs [--status waiting-approval] [--playbook NAME]", Check: out(0, `(?m)^{RUN}\s+my-upgrade\s+waiting-approval `)},
		{Example: `cairn approve RUN canary-ok --comment "error rate flat for 15m"`, Check: out(0, `approved canary-ok of run {RUN}`)},
		{Example: "cairn resume", Check: out(0, `run {RUN} succeeded`)},
		{Example: "cairn show [RUN] [--events] [-o json|yaml]", Check: s.showRun},
		{Example: "cairn logs RUN", Check: s.allLogs},
		{Example: "cairn logs RUN [STEP[ITEM]] [-f] [--attempt N]", Check: s.itemLogs},
		{Example: "cairn logs RUN install", Check: out(0, `^==> install attempt 1 \(succeeded\) <==\ninstalled the new control plane\n$`)},
		{Example: "cairn logs @latest install -f", Check: out(0, `^==> install attempt 1 \(succeeded\) <==\ninstalled the new control plane\n$`)},
		{Example: "cairn logs RUN flaky --attempt 1 --timestamps", Check: out(0, `^==> flaky attempt 1 \(failed\) <==\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z stderr not ready yet\n$`)},
		{Example: "cairn report RUN [-o FILE|-]", Check: s.reportFile},
		{Example: "cairn journal verify [RUN]", Check: out(0, `^{RUN}: ok \(\d+ events, head [0-9a-f]{64}\)\n$`)},
		{Example: "cairn journal export RUN", Check: s.exported},
		{Example: "cairn rollback --plan RUN", Check: out(0, `1\s+move\[app-3\]\s+exec\s+run\s+exec\s+undo`, `3\s+install\s+exec\s+run\s+exec\s+undo`)},
		{Example: "cairn rollback RUN", Check: s.rolledBack},
	}
}

type readmeSession struct{ cairntest.Session }

// The README's examples work as printed. Every cairn command line of its
// code blocks that needs no cluster runs here, each variant of its
// optional parts and alternatives, and must exit as expected and print
// what it says; one that is in no test, or whose placeholders the test
// cannot fill in, fails.
func TestReadmeExamplesRun(t *testing.T) {
	dir := t.TempDir()
	work, home := filepath.Join(dir, "work"), filepath.Join(dir, "home")
	for _, d := range []string{work, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s := &readmeSession{cairntest.Session{Dir: work,
		Env:    []string{"HOME=" + home, "PATH=" + filepath.Dir(cairnBin) + ":" + os.Getenv("PATH")},
		Values: map[string]string{"NAME": "my-upgrade", "STEP[ITEM]": "move[app-2]", "N": "1", "FILE": "audit.html"}}}
	notCluster := func(e cairntest.Example) bool { return !e.NeedsCluster() }
	s.Run(t, cairntest.ReadmeExamples(t, repoRoot), notCluster, readmeSteps(s))
}

// inFile checks a clean exit and a file of the current directory.
func (s *readmeSession) inFile(name string, patterns ...string) cairntest.Check {
	return func(t *testing.T, line string, r cairntest.ShellResult) {
		t.Helper()
		s.Outputs(0)(t, line, r)
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
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

func (s *readmeSession) rawCopy(t *testing.T, line string, r cairntest.ShellResult) {
	s.Outputs(0)(t, line, r)
	src, _ := playbooks.Builtin("istio-canary-tags")
	if got, err := os.ReadFile(filepath.Join(s.Dir, "mine.yaml")); err != nil || string(got) != string(src) {
		t.Errorf("%s: mine.yaml is not the built-in's text (%v)", line, err)
	}
}

func (s *readmeSession) schemaFile(t *testing.T, line string, r cairntest.ShellResult) {
	s.Outputs(0)(t, line, r)
	var schema struct {
		Schema     string         `json:"$schema"`
		Properties map[string]any `json:"properties"`
	}
	data, _ := os.ReadFile(filepath.Join(s.Dir, "cairn-v1.schema.json"))
	if err := json.Unmarshal(data, &schema); err != nil || !strings.Contains(schema.Schema, "json-schema.org") || schema.Properties["steps"] == nil {
		t.Errorf("%s: not a JSON Schema of playbooks (%v):\n%.300s", line, err, data)
	}
}

// writeMyUpgrade puts the playbook the person adapted where the README
// validates it.
func (s *readmeSession) writeMyUpgrade(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "testdata/cli/my-upgrade.yaml"))
	if err == nil {
		err = os.WriteFile(filepath.Join(s.Dir, "my-upgrade.yaml"), src, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// fillParams fills in p.yaml as its header says: the empty (required)
// ones.
func (s *readmeSession) fillParams(t *testing.T) {
	path := filepath.Join(s.Dir, "p.yaml")
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

func (s *readmeSession) startRun(t *testing.T) {
	r := cairntest.Shell(t, time.Minute, s.Dir, s.Env, "cairn run ./my-upgrade.yaml -p workdir=effects")
	if r.Code != 0 || !strings.Contains(r.Stdout, "waiting for approval") {
		t.Fatalf("run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	s.Values["RUN"] = strings.TrimSpace(cairntest.Shell(t, time.Minute, s.Dir, s.Env, "cairn runs -q").Stdout)
}

func (s *readmeSession) showRun(t *testing.T, line string, r cairntest.ShellResult) {
	if !strings.Contains(line, " -o ") {
		s.Outputs(0, `(?m)^run\s+{RUN}$`, `(?m)^status\s+succeeded$`, `canary-ok\s+succeeded\s+approved by \S+ error rate flat for 15m`)(t, line, r)
		return
	}
	s.Outputs(0, `error rate flat for 15m`)(t, line, r)
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
	if run := s.Values["RUN"]; err != nil || v.Run.ID != run || v.Run.Status != "succeeded" || len(v.Events) < 10 {
		t.Errorf("%s: run %q %q with %d events (%v), want %s succeeded with its events", line, v.Run.ID, v.Run.Status, len(v.Events), err, run)
	}
}

func (s *readmeSession) allLogs(t *testing.T, line string, r cairntest.ShellResult) {
	s.Outputs(0, `^==> install attempt 1 \(succeeded\) <==\ninstalled the new control plane\n`+
		`==> flaky attempt 1 \(failed\) <==\nnot ready yet\n==> flaky attempt 2 \(succeeded\) <==\nready\n`+
		`==> move\[app-2\] attempt 1 \(succeeded\) <==\nmoved app-2\n==> move\[app-3\] attempt 1 \(succeeded\) <==\nmoved app-3\n$`)(t, line, r)
}

func (s *readmeSession) itemLogs(t *testing.T, line string, r cairntest.ShellResult) {
	if !strings.Contains(line, "move") {
		s.allLogs(t, line, r)
		return
	}
	s.Outputs(0, `^==> move\[app-2\] attempt 1 \(succeeded\) <==\nmoved app-2\n$`)(t, line, r)
}

func (s *readmeSession) reportFile(t *testing.T, line string, r cairntest.ShellResult) {
	run := s.Values["RUN"]
	file := "cairn-report-" + run + ".html"
	switch {
	case strings.HasSuffix(line, " -o -"):
		s.Outputs(0, `^<!DOCTYPE html>`)(t, line, r)
		return
	case strings.Contains(line, " -o "):
		file = "audit.html"
	}
	s.Outputs(0, "^"+regexp.QuoteMeta(file)+"\n$")(t, line, r)
	html, err := os.ReadFile(filepath.Join(s.Dir, file))
	if err != nil || !strings.HasPrefix(string(html), "<!DOCTYPE html>") || !strings.Contains(string(html), run) {
		t.Errorf("%s: %s is not the run's report (%v)", line, file, err)
	}
}

func (s *readmeSession) exported(t *testing.T, line string, r cairntest.ShellResult) {
	s.Outputs(0)(t, line, r)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("%s: not a JSON line: %.200s", line, l)
		}
	}
	if !strings.HasPrefix(lines[0], `{"run":{"id":"`+s.Values["RUN"]+`"`) || !strings.HasPrefix(lines[len(lines)-1], `{"head":{"seq":`) {
		t.Errorf("%s: want the run first and its head last:\n%.300s\n...\n%s", line, lines[0], lines[len(lines)-1])
	}
}

func (s *readmeSession) rolledBack(t *testing.T, line string, r cairntest.ShellResult) {
	s.Outputs(0, `run {RUN} rolled back`)(t, line, r)
	effects, _ := os.ReadFile(filepath.Join(s.Dir, "effects", "effects.log"))
	if want := "install new\nmove app-2\nmove app-3\nmove app-3 back\nmove app-2 back\nuninstall new\n"; string(effects) != want {
		t.Errorf("%s: effects.log\n%s\nwant\n%s", line, effects, want)
	}
}
