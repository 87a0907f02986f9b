package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/workflow/action"
)

// reportedRun runs testdata/cli/report.yaml to the end through its gate,
// with a secret given by -p, and returns the journal and the run id.
func reportedRun(t *testing.T, dir string) (journal, id string) {
	t.Helper()
	journal = filepath.Join(dir, "j.db")
	book := filepath.Join(repoRoot, "testdata/cli/report.yaml")
	params := []string{"-p", "token=hunter2", "-p", "dir=" + dir}
	if r := cairn(t, journal, append([]string{"run", book}, params...)...); r.code != ExitOK {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	id = strings.TrimSpace(cairn(t, journal, "runs", "-q").stdout)
	if r := cairn(t, journal, "approve", id, "approve-zones", "--comment", "zones <ok> & fine"); r.code != ExitOK {
		t.Fatalf("approve: exit %d %s", r.code, r.stderr)
	}
	if r := cairn(t, journal, append([]string{"resume", id}, params...)...); r.code != ExitOK {
		t.Fatalf("resume: exit %d %s", r.code, r.stderr)
	}
	return journal, id
}

// reportSteps are the instances of report.yaml's run: every one must show.
var reportSteps = []string{"read-version", "version-known", "move-zone[zone-a]", "move-zone[zone-b]", "approve-zones", "finish"}

func TestReportShowsTheRunAndHidesTheSecret(t *testing.T) {
	dir := t.TempDir()
	j, id := reportedRun(t, dir)
	t.Chdir(dir)
	r := cairn(t, j, "report", id)
	want := "cairn-report-" + id + ".html"
	if r.code != ExitOK || r.stdout != want+"\n" {
		t.Fatalf("report: exit %d, stdout %q (want the path %s)\n%s", r.code, r.stdout, want, r.stderr)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, s := range reportSteps {
		if !strings.Contains(html, ">"+s+"<") {
			t.Errorf("the report does not show instance %s", s)
		}
	}
	user, _ := action.Identity()
	for _, s := range []string{
		`Approved by <b class="mono approver">` + user + `</b>`,
		`zones &lt;ok&gt; &amp; fine`,                       // the gate's comment, escaped
		`version 1.2 &lt;script&gt;alert(1)&lt;/script&gt;`, // a tool's output, escaped
		// what rollback would run, newest first, beside what the step did
		`<td class="mono">move-zone[zone-b]</td><td>exec, run`, "moved $2 back", "moved zone-b (was old)",
		"run.resumed", "gate.approved", `<td class="mono">token</td><td class="mono">&lt;redacted&gt;`,
	} {
		if !strings.Contains(html, s) {
			t.Errorf("the report lacks %q", s)
		}
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "hunter2") {
		t.Errorf("the report holds a raw <script> or the secret")
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(html) {
		t.Errorf("the report refers to something on the network")
	}
	v := cairn(t, j, "journal", "verify", id)
	m := regexp.MustCompile(`ok \(\d+ events, head ([0-9a-f]{64})\)`).FindStringSubmatch(v.stdout)
	if v.code != ExitOK || m == nil {
		t.Fatalf("journal verify: exit %d %q", v.code, v.stdout)
	}
	if !strings.Contains(html, `id="head-hash">`+m[1]+`<`) {
		t.Errorf("the report does not show the head hash %s that journal verify prints", m[1])
	}
}

// -o FILE writes FILE, replacing an earlier one; -o - writes the HTML to
// stdout and nothing else; an unknown run is an error, and no file.
func TestReportOutput(t *testing.T) {
	dir := t.TempDir()
	j, id := reportedRun(t, dir)
	out := filepath.Join(dir, "audit.html")
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cairn(t, j, "report", id, "-o", out); r.code != ExitOK || r.stdout != out+"\n" {
		t.Fatalf("report -o FILE: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Errorf("%s was not replaced: %.40q", out, b)
	}
	r := cairn(t, j, "report", id, "-o", "-")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "<!DOCTYPE html>") || !strings.HasSuffix(r.stdout, "</html>\n") {
		t.Errorf("report -o -: exit %d, stdout %.60q", r.code, r.stdout)
	}
	if r := cairn(t, j, "report", "nosuch", "-o", filepath.Join(dir, "x.html")); r.code == ExitOK || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("report of an unknown run: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.html")); !os.IsNotExist(err) {
		t.Errorf("a failed report left a file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("a temporary file is left: %s", e.Name())
		}
	}
}
