package main

import (
	"io"
	"os"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"
)

// statusLine is one line at the bottom of a terminal, redrawn in place.
// Log lines are written through it: it erases the line, writes the log
// line, and draws the status again below it, so the two never mangle each
// other.
type statusLine struct {
	mu    sync.Mutex
	out   io.Writer
	fd    int // for the terminal's width; -1 if unknown
	shown string
}

const eraseLine = "\r\x1b[K"

func newStatusLine(out io.Writer) *statusLine {
	fd := -1
	if f, ok := out.(*os.File); ok {
		fd = int(f.Fd())
	}
	return &statusLine{out: out, fd: fd}
}

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shown == "" {
		return s.out.Write(p)
	}
	_, _ = io.WriteString(s.out, eraseLine)
	n, err := s.out.Write(p)
	_, _ = io.WriteString(s.out, s.shown)
	return n, err
}

// set draws line, cut to the terminal's width: a line that wrapped could no
// longer be erased with a carriage return.
func (s *statusLine) set(line string) {
	line = fit(line, s.width()-1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if line == s.shown {
		return
	}
	_, _ = io.WriteString(s.out, eraseLine+line)
	s.shown = line
}

func (s *statusLine) clear() { s.set("") }

func (s *statusLine) width() int {
	if s.fd >= 0 {
		if w, _, err := term.GetSize(s.fd); err == nil && w > 1 {
			return w
		}
	}
	return 80
}

// fit cuts s to n runes, marking the cut with an ellipsis.
func fit(s string, n int) string {
	if n < 1 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
