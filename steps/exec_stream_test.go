package steps

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cairn-dev/cairn/playbooks"
)

func TestLineStreamRedactsAcrossWrites(t *testing.T) {
	red := playbooks.NewRedactor([]string{"hunter2", "multi\nline"})
	var got []string
	s := &lineStream{stream: "stdout", red: red, emit: func(stream, line string) { got = append(got, stream+":"+line) }}
	for _, w := range []string{"first li", "ne\npassword hun", "ter2 ok\nsecret multi", "\nline end\n", "no newline at end"} {
		if _, err := s.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	want := []string{"stdout:first line", "stdout:password <redacted> ok", "stdout:secret <redacted> end", "stdout:no newline at end"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q\nwant %q", got, want)
	}
}

// A line is passed on as soon as its newline arrives, not when the next one
// does: a slow tool's progress shows at once.
func TestLineStreamEmitsAtNewline(t *testing.T) {
	var got []string
	s := &lineStream{stream: "stderr", red: playbooks.NewRedactor([]string{"secret"}), emit: func(_, line string) { got = append(got, line) }}
	s.Write([]byte("waiting for machines\r\n"))
	if len(got) != 1 || got[0] != "waiting for machines" {
		t.Fatalf("after one line: %q", got)
	}
}

// Output without newlines is passed on in bounded pieces.
func TestLineStreamBoundsLongLines(t *testing.T) {
	var n, pieces int
	s := &lineStream{stream: "stdout", emit: func(_, line string) {
		n += len(line)
		pieces++
		if !utf8.ValidString(line) {
			t.Fatalf("piece %d cuts a character", pieces)
		}
	}}
	chunk := []byte(strings.Repeat("€", 1000))
	for range 200 {
		s.Write(chunk)
		if len(s.line) > maxLineBytes || cap(s.line) > 4*maxLineBytes {
			t.Fatalf("line buffer grew to %d (cap %d)", len(s.line), cap(s.line))
		}
	}
	s.Close()
	if n != 200*len(chunk) || pieces < 200*len(chunk)/maxLineBytes {
		t.Errorf("passed on %d bytes in %d pieces", n, pieces)
	}
}
