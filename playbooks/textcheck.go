package playbooks

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTextErrors bounds how many bad characters are listed: a binary file
// would otherwise list thousands.
const maxTextErrors = 10

// checkText reports, each with its line and column, what the YAML parser
// refuses without saying where: bytes that are not UTF-8, and control
// characters other than tab, newline and carriage return (NUL among them).
// Columns count characters, as YAML positions do.
func (c *errs) checkText(src []byte) bool {
	line, col, found := 1, 1, 0
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			c.at(Pos{File: c.file, Line: line, Col: col}, "byte 0x%02x is not UTF-8; save the file as UTF-8", src[i])
			found++
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0x7f:
			c.at(Pos{File: c.file, Line: line, Col: col}, "control character %U is not allowed in YAML; remove it (write \\x%02x in a double-quoted string if it is meant)", r, r)
			found++
		}
		if found == maxTextErrors {
			c.at(Pos{File: c.file, Line: line, Col: col}, "more bad characters follow; is this a text file?")
			return false
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return found == 0
}

// syntaxColumn finds the column, which yaml.v3 does not report, of the
// two errors whose place on the line is clear: a tab where indentation is,
// and nesting too deep (the bracket that goes past the limit). 0 if unknown.
func syntaxColumn(src []byte, line int, msg string) int {
	lines := bytes.SplitN(src, []byte("\n"), line+1)
	if line < 1 || line > len(lines) {
		return 0
	}
	text := string(lines[line-1])
	switch {
	case strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token"):
		if i := strings.IndexByte(text, '\t'); i >= 0 {
			return utf8.RuneCountInString(text[:i]) + 1
		}
	case strings.Contains(msg, "exceeded max depth"):
		var limit int
		if _, err := fmt.Sscanf(msg[strings.LastIndex(msg, " ")+1:], "%d", &limit); err != nil {
			return 0
		}
		depth := 0
		for i, r := range []rune(text) {
			switch r {
			case '[', '{':
				if depth++; depth > limit {
					return i + 1
				}
			case ']', '}':
				depth--
			}
		}
	}
	return 0
}

func lineHasTabAt(src []byte, line, col int) bool {
	lines := bytes.SplitN(src, []byte("\n"), line+1)
	if line > len(lines) {
		return false
	}
	runes := []rune(string(lines[line-1]))
	return col-1 < len(runes) && runes[col-1] == '\t'
}
