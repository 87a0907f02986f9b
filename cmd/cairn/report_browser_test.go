package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/cmd/cairn/cairntest"
)

// The report opens in a real browser (Debian's chromium, headless): it
// renders every step, logs no console message or error, and asks the
// network for nothing (cairntest.CheckReport, which first shows on a
// control page that the browser reports both).
func TestReportInHeadlessChromium(t *testing.T) {
	dir := t.TempDir()
	j, id := reportedRun(t, dir)
	report := filepath.Join(dir, "report.html")
	if r := cairn(t, j, "report", id, "-o", report); r.code != ExitOK {
		t.Fatalf("report: exit %d %s", r.code, r.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := cairntest.StartBrowser(ctx, t)
	cairntest.CheckReport(t, b, report, append(reportSteps, id, "verified", "version 1.2 <script>alert(1)</script>")...)
	shot := filepath.Join(cairntest.ArtifactDir(t), "report-"+id+".png")
	if err := b.Screenshot(shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	cairntest.CheckPNG(t, shot, 800, 600, 20<<10)
	t.Logf("screenshot of the report: %s", shot)
}
