package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// printable neutralises what a tool's output or a journal may carry that a
// terminal would act on (CSI/OSC escape sequences, carriage returns, bells):
// each control character but newline and tab is shown as \xNN, so output
// of `show` or an error line cannot retitle, clear or rewrite the screen.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i]) // a lone byte: 0x9b is CSI to some terminals
		case isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// printableWriter applies printable to everything written through it.
type printableWriter struct{ w io.Writer }

func (p printableWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, printable(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}
