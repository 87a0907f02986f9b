package steps

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/cairn-dev/cairn/playbooks"
)

// maxLineBytes bounds a line kept while its end has not come: a tool that
// writes megabytes without a newline has them passed on in pieces of this
// size rather than held in memory.
const maxLineBytes = 64 << 10

// lineStream passes a program's output on line by line, secrets redacted,
// as it arrives. Redaction comes before the text is cut into lines, on the
// stream as a whole (Redactor.RedactStream), so that a secret split across
// two writes, or one holding a newline, is hidden like any other. It holds
// at most MaxLen bytes of undecided text plus one unfinished line, however
// much the program writes.
type lineStream struct {
	stream  string // "stdout" or "stderr"
	red     *playbooks.Redactor
	emit    func(stream, line string)
	pending []byte // not yet redacted: could begin a secret
	line    []byte // redacted, waiting for its newline
}

func (s *lineStream) Write(p []byte) (int, error) {
	s.pending = append(s.pending, p...)
	out, n := s.red.RedactStream(string(s.pending), false)
	s.pending = append(s.pending[:0], s.pending[n:]...)
	s.lines(out)
	return len(p), nil
}

// Close passes on what is left, once the program's output has ended.
func (s *lineStream) Close() {
	out, _ := s.red.RedactStream(string(s.pending), true)
	s.pending = s.pending[:0]
	s.lines(out)
	if len(s.line) > 0 {
		s.flush(len(s.line))
	}
}

func (s *lineStream) lines(out string) {
	for out != "" {
		i := strings.IndexByte(out, '\n')
		if i < 0 {
			s.line = append(s.line, out...)
			break
		}
		s.line = append(s.line, out[:i]...)
		s.flush(len(s.line))
		out = out[i+1:]
	}
	for len(s.line) > maxLineBytes {
		// Cut at a rune boundary, so that no piece holds half a character.
		cut := maxLineBytes
		for i := 0; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s.line[cut]); i++ {
			cut--
		}
		s.flush(cut)
	}
}

// flush emits s.line[:n] as a line, without a carriage return a progress
// bar left at its end.
func (s *lineStream) flush(n int) {
	s.emit(s.stream, string(bytes.TrimRight(s.line[:n], "\r")))
	s.line = append(s.line[:0], s.line[n:]...)
}
