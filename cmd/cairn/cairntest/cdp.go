package cairntest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Browser is a headless chromium driven over the DevTools protocol through
// --remote-debugging-pipe (JSON messages ended by NUL on fds 3 and 4): no
// port, no websocket, no module beyond the standard library.
type Browser struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	r       *bufio.Reader
	next    int
	session string
	events  []cdpMessage // received and not yet taken
	stderr  bytes.Buffer
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct{ Message string }
	SessionID string `json:"sessionId,omitempty"`
}

// chromiumPath is Debian's chromium, or $CAIRN_CHROMIUM. make test installs
// it (testdata/chromium/install.sh); without it the test fails, not skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("CAIRN_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the report's browser test needs chromium at %s (%v): run testdata/chromium/install.sh, as make test does, or set CAIRN_CHROMIUM", bin, err)
	}
	return bin
}

// StartBrowser starts chromium with every way out of the machine closed:
// a proxy on a port nothing listens on, for loopback too, and no name
// resolution. It opens one page and attaches to it.
func StartBrowser(ctx context.Context, t *testing.T) *Browser {
	t.Helper()
	toChild, ourW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourR, fromChild, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{w: ourW, r: bufio.NewReader(ourR)}
	b.cmd = exec.CommandContext(ctx, chromiumPath(t), "--headless", "--no-sandbox", "--disable-gpu",
		"--remote-debugging-pipe", "--user-data-dir="+t.TempDir(), "--window-size=1280,900",
		"--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-default-apps", "--disable-extensions", "--enable-logging=stderr", "--v=0", "about:blank")
	b.cmd.ExtraFiles = []*os.File{toChild, fromChild} // fd 3: it reads; fd 4: it writes
	b.cmd.Stderr = &b.stderr
	b.cmd.WaitDelay = 5 * time.Second
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	toChild.Close()
	fromChild.Close()
	t.Cleanup(func() {
		_, _ = b.call("", "Browser.close", nil)
		ourW.Close()
		if err := b.cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Logf("chromium: %v", err)
		}
		ourR.Close()
		if t.Failed() {
			t.Logf("chromium's stderr:\n%s", b.stderr.String())
		}
	})
	var target struct{ TargetID string }
	if err := b.decode("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var attached struct{ SessionID string }
	if err := b.decode("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	b.session = attached.SessionID
	for _, domain := range []string{"Page", "Network", "Runtime", "Log"} {
		if _, err := b.call(b.session, domain+".enable", nil); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *Browser) read() (cdpMessage, error) {
	line, err := b.r.ReadBytes(0)
	if err != nil {
		return cdpMessage{}, fmt.Errorf("reading from chromium: %w", err)
	}
	var m cdpMessage
	if err := json.Unmarshal(line[:len(line)-1], &m); err != nil {
		return cdpMessage{}, fmt.Errorf("a message from chromium: %w", err)
	}
	return m, nil
}

// call sends one command and returns its result; events that arrive
// meanwhile are kept for take.
func (b *Browser) call(session, method string, params any) (json.RawMessage, error) {
	b.next++
	msg := map[string]any{"id": b.next, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if _, err := b.w.Write(append(raw, 0)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	for {
		m, err := b.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		switch {
		case m.ID == b.next && m.Error != nil:
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		case m.ID == b.next:
			return m.Result, nil
		case m.Method != "":
			b.events = append(b.events, m)
		}
	}
}

func (b *Browser) decode(session, method string, params, out any) error {
	res, err := b.call(session, method, params)
	if err != nil {
		return err
	}
	return json.Unmarshal(res, out)
}

// waitFor reads until the page sends an event named method.
func (b *Browser) waitFor(method string) error {
	for _, m := range b.events {
		if m.Method == method {
			return nil
		}
	}
	for {
		m, err := b.read()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", method, err)
		}
		if m.Method != "" {
			b.events = append(b.events, m)
		}
		if m.Method == method {
			return nil
		}
	}
}

// take returns and forgets the events received so far.
func (b *Browser) take() []cdpMessage {
	evs := b.events
	b.events = nil
	return evs
}

// Evaluate runs a JavaScript expression in the page and returns its value.
func (b *Browser) Evaluate(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage
		}
		ExceptionDetails *struct{ Text string }
	}
	if err := b.decode(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return errors.New(res.ExceptionDetails.Text)
	}
	return json.Unmarshal(res.Result.Value, out)
}
