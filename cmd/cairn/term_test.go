//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's controlling and terminal ends.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal on this machine: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptmx, tty
}

// runOnTTY runs cairn with stderr on a terminal and returns what it wrote.
func runOnTTY(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ptmx, tty := openPTY(t)
	defer ptmx.Close()
	cmd := exec.Command(cairnBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = tty
	var got bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&got, ptmx); close(done) }() // ends with EIO once tty is closed
	err := cmd.Run()
	tty.Close()
	<-done
	if err != nil {
		t.Fatalf("cairn %q: %v\n%s", args, err, got.String())
	}
	return got.String()
}

// On a terminal cairn keeps a status line and colours its logs; with
// TERM=dumb it writes neither escape codes nor carriage returns, and with
// NO_COLOR it writes no colour.
func TestTerminalEscapeCodes(t *testing.T) {
	run := func(env ...string) string {
		j := filepath.Join(t.TempDir(), "j.db")
		return runOnTTY(t, env, "--journal", j, "run", "demo", "-p", "workdir="+t.TempDir(), "-p", "pace=0s")
	}
	if out := run("TERM=xterm", "NO_COLOR="); !strings.Contains(out, "\x1b[") {
		t.Errorf("TERM=xterm: no escape codes, so this test proves nothing:\n%q", out)
	}
	if out := run("TERM=dumb", "NO_COLOR="); strings.Contains(out, "\x1b") || strings.Contains(strings.ReplaceAll(out, "\r\n", "\n"), "\r") || !strings.Contains(out, "INF") {
		t.Errorf("TERM=dumb got escape codes or carriage returns (or no console log):\n%q", out)
	}
	out := run("TERM=xterm", "NO_COLOR=1")
	if strings.Contains(out, "\x1b[3") || strings.Contains(out, "\x1b[1m") || strings.Contains(out, "\x1b[9") || !strings.Contains(out, "INF") {
		t.Errorf("NO_COLOR: colour codes (or no console log):\n%q", out)
	}
	if got := terminalOf(&bytes.Buffer{}, func(string) string { return "" }); got != (terminal{}) {
		t.Errorf("not a terminal: %+v", got)
	}
}
