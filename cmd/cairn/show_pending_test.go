package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// show lists the steps a run has not reached, and a gate that waits says
// so instead of "started, never finished"; times are UTC and say it.
func TestShowPendingAndWaiting(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	if r := cairn(t, j, "run", "demo", "-p", "workdir="+dir, "-p", "pace=0s"); r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	show := cairn(t, j, "show").stdout
	for _, want := range []string{
		`(?m)^canary-ok +waiting-approval`,
		`(?m)^ +1 +\d\d:\d\d:\d\d\.\d{3} +waiting for approval$`,
		`(?m)^move-rest\[\*\] +pending`,
		`(?m)^remove-old +pending`,
		`(?m)^started +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by `,
		`STARTED \(UTC\)`,
	} {
		if !regexp.MustCompile(want).MatchString(show) {
			t.Errorf("show lacks %s:\n%s", want, show)
		}
	}
	if strings.Contains(show, "never finished") {
		t.Errorf("a waiting gate shown as never finished:\n%s", show)
	}
	id := strings.TrimSpace(cairn(t, j, "runs", "-q").stdout)
	if r := cairn(t, j, "approve", id, "canary-ok"); r.code != ExitOK {
		t.Fatalf("approve: %d %s", r.code, r.stderr)
	}
	if r := cairn(t, j, "resume"); r.code != ExitOK || !strings.Contains(r.stdout, "cairn report "+id) {
		t.Fatalf("resume: %d, want the report named in %q %s", r.code, r.stdout, r.stderr)
	}
	show = cairn(t, j, "show", "-o", "json").stdout
	if strings.Contains(show, `"pending"`) {
		t.Errorf("a finished run still shows pending steps:\n%s", show)
	}
	for _, want := range []string{`"move-rest[app-2]"`, `"move-rest[app-3]"`, `"remove-old"`} {
		if !strings.Contains(show, want) {
			t.Errorf("show -o json lacks %s", want)
		}
	}
}
