package cairntest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PageLoad is what a page did while it loaded: the requests it made beyond
// its own document, and every console message, exception and browser log
// entry of level error.
type PageLoad struct {
	Requests []string
	Problems []string
}

// Open navigates to a file, waits for its load event, and sorts out what
// the page did meanwhile.
func (b *Browser) Open(path string) (PageLoad, error) {
	url := "file://" + path
	b.take()
	if _, err := b.call(b.session, "Page.navigate", map[string]any{"url": url}); err != nil {
		return PageLoad{}, err
	}
	if err := b.waitFor("Page.loadEventFired"); err != nil {
		return PageLoad{}, err
	}
	// A round trip more, so that what the load started is reported.
	if _, err := b.call(b.session, "Runtime.evaluate", map[string]any{"expression": "1"}); err != nil {
		return PageLoad{}, err
	}
	var out PageLoad
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
				out.Requests = append(out.Requests, p.Request.URL)
			}
		case "Runtime.consoleAPICalled":
			out.Problems = append(out.Problems, fmt.Sprintf("console.%s %v", p.Type, p.Args))
		case "Runtime.exceptionThrown":
			out.Problems = append(out.Problems, "exception: "+p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
		case "Log.entryAdded":
			if p.Entry.Level == "error" {
				out.Problems = append(out.Problems, "log: "+p.Entry.Text+" "+p.Entry.URL)
			}
		}
	}
	return out, nil
}

// Screenshot writes the whole page as a PNG.
func (b *Browser) Screenshot(path string) error {
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
	img, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, img, 0o644)
}

// ArtifactDir is where a test keeps what a person may want to look at
// afterwards: $CAIRN_TEST_ARTIFACTS, else a directory under the system's
// temporary directory. It outlives the test; tests log what they put there.
func ArtifactDir(t *testing.T) string {
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

// CheckReport opens an audit report in the browser and fails the test
// unless it asked the network for nothing, logged no console message or
// error, and its rendered text shows each of want. A control page that
// loads an image from the network and logs an error is opened first, to
// show that the browser reports both. It returns the rendered text.
func CheckReport(t *testing.T, b *Browser, report string, want ...string) string {
	t.Helper()
	control := filepath.Join(t.TempDir(), "control.html")
	if err := os.WriteFile(control, []byte(`<!DOCTYPE html><title>control</title><img src="http://example.invalid/x.png">`+
		`<script>console.error("control-error")</script>`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := b.Open(control)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Requests) == 0 || !strings.Contains(strings.Join(got.Problems, "\n"), "control-error") {
		t.Fatalf("the control page's request and console error went unseen: requests %q, problems %q", got.Requests, got.Problems)
	}

	got, err = b.Open(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Requests) > 0 {
		t.Errorf("the report made network requests: %q", got.Requests)
	}
	if len(got.Problems) > 0 {
		t.Errorf("the report logged:\n%s", strings.Join(got.Problems, "\n"))
	}
	var text string
	if err := b.Evaluate("document.body.innerText", &text); err != nil {
		t.Fatal(err)
	}
	for _, s := range want {
		if !strings.Contains(text, s) {
			t.Errorf("the rendered report does not show %q", s)
		}
	}
	return text
}

// CheckPNG fails the test unless path is a PNG image of at least
// minWidth x minHeight pixels and minBytes bytes: a screenshot of a page,
// not an empty or blank capture.
func CheckPNG(t *testing.T, path string, minWidth, minHeight, minBytes int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG: it starts %q", path, data[:min(len(data), 8)])
	}
	if len(data) < minBytes {
		t.Errorf("%s has %d bytes, want at least %d", path, len(data), minBytes)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if cfg.Width < minWidth || cfg.Height < minHeight {
		t.Errorf("%s is %dx%d pixels, want at least %dx%d", path, cfg.Width, cfg.Height, minWidth, minHeight)
	}
}
