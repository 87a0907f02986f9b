package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pageLoad is what a page did while it loaded: the requests it made beyond
// its own document, and every console message, exception and browser log
// entry of level error.
type pageLoad struct {
	requests []string
	problems []string
}

// open navigates to a file, waits for its load event, and sorts out what
// the page did meanwhile.
func (b *browser) open(path string) (pageLoad, error) {
	url := "file://" + path
	b.take()
	if _, err := b.call(b.session, "Page.navigate", map[string]any{"url": url}); err != nil {
		return pageLoad{}, err
	}
	if err := b.waitFor("Page.loadEventFired"); err != nil {
		return pageLoad{}, err
	}
	// A round trip more, so that what the load started is reported.
	if _, err := b.call(b.session, "Runtime.evaluate", map[string]any{"expression": "1"}); err != nil {
		return pageLoad{}, err
	}
	var out pageLoad
	for _, ev := range b.take() {
		var p struct {
			Request          struct{ URL string }
			Type             string
			Args             []struct{ Value any }
			Entry            struct{ Level, Text, URL string }
			ExceptionDetails struct {
				Text      string
				Exception struct{ Description string }
			}
		}
		_ = json.Unmarshal(ev.Params, &p)
		switch ev.Method {
		case "Network.requestWillBeSent":
			if p.Request.URL != url {
				out.requests = append(out.requests, p.Request.URL)
			}
		case "Runtime.consoleAPICalled":
			out.problems = append(out.problems, fmt.Sprintf("console.%s %v", p.Type, p.Args))
		case "Runtime.exceptionThrown":
			out.problems = append(out.problems, "exception: "+p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
		case "Log.entryAdded":
			if p.Entry.Level == "error" {
				out.problems = append(out.problems, "log: "+p.Entry.Text+" "+p.Entry.URL)
			}
		}
	}
	return out, nil
}

// screenshot writes the whole page as a PNG.
func (b *browser) screenshot(path string) error {
	var m struct {
		CSSContentSize struct{ Width, Height float64 }
	}
	if err := b.decode(b.session, "Page.getLayoutMetrics", nil, &m); err != nil {
		return err
	}
	var shot struct{ Data string }
	clip := map[string]any{"x": 0, "y": 0, "width": m.CSSContentSize.Width, "height": m.CSSContentSize.Height, "scale": 1}
	if err := b.decode(b.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true, "clip": clip}, &shot); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// artifactDir is where a test keeps what a person may want to look at
// afterwards: $CAIRN_TEST_ARTIFACTS, else a directory under the system's
// temporary directory. It outlives the test; its path is logged.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CAIRN_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "cairn-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The report opens in a real browser (Debian's chromium, headless): it
// renders every step, logs no console message or error, and asks the
// network for nothing. A control page that loads an image from the network
// and logs an error first shows that the browser reports both.
func TestReportInHeadlessChromium(t *testing.T) {
	dir := t.TempDir()
	j, id := reportedRun(t, dir)
	report := filepath.Join(dir, "report.html")
	if r := cairn(t, j, "report", id, "-o", report); r.code != ExitOK {
		t.Fatalf("report: exit %d %s", r.code, r.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startBrowser(ctx, t)

	control := filepath.Join(dir, "control.html")
	if err := os.WriteFile(control, []byte(`<!DOCTYPE html><title>control</title><img src="http://example.invalid/x.png">`+
		`<script>console.error("control-error")</script>`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := b.open(control)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.requests) == 0 || !strings.Contains(strings.Join(got.problems, "\n"), "control-error") {
		t.Fatalf("the control page's request and console error went unseen: requests %q, problems %q", got.requests, got.problems)
	}

	got, err = b.open(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.requests) > 0 {
		t.Errorf("the report made network requests: %q", got.requests)
	}
	if len(got.problems) > 0 {
		t.Errorf("the report logged:\n%s", strings.Join(got.problems, "\n"))
	}
	var text string
	if err := b.evaluate("document.body.innerText", &text); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(reportSteps, id, "verified", "version 1.2 <script>alert(1)</script>") {
		if !strings.Contains(text, s) {
			t.Errorf("the rendered report does not show %q", s)
		}
	}
	shot := filepath.Join(artifactDir(t), "report-"+id+".png")
	if err := b.screenshot(shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot of the report: %s", shot)
}
