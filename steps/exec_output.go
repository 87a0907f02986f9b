package steps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cairn-dev/cairn/playbooks"
)

// capture keeps the head of a stream (what expect and outputs search) and
// its tail (what the journal keeps as evidence), without holding more than
// both caps however much a tool writes. The tail keeps the length of the
// longest secret more than its cap, so that a secret the cut goes through
// is seen whole and redacted before the cut is made.
type capture struct {
	headCap, tailCap int
	red              *playbooks.Redactor
	head, tail       []byte
	total            int64
}

func (c *capture) Write(p []byte) (int, error) {
	c.total += int64(len(p))
	if room := c.headCap - len(c.head); room > 0 {
		c.head = append(c.head, p[:min(room, len(p))]...)
	}
	keep := c.tailCap + c.red.MaxLen()
	if len(p) >= keep {
		c.tail = append(c.tail[:0], p[len(p)-keep:]...)
		return len(p), nil
	}
	c.tail = append(c.tail, p...)
	// Trimming only at twice the cap keeps the copying amortised.
	if len(c.tail) > 2*keep {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-keep:]...)
	}
	return len(p), nil
}

// tailString returns at most n of the last bytes, secrets redacted,
// starting at a rune boundary so that the journal never holds half a
// character. Redaction comes first, so the cut never leaves part of a
// secret: one the cut goes through is replaced whole.
func (c *capture) tailString(n int) string {
	b := c.tail
	from := 0
	if len(b) > n {
		from = len(b) - n
		for i := 0; i < utf8.UTFMax && from < len(b) && !utf8.RuneStart(b[from]); i++ {
			from++
		}
	}
	return c.red.RedactTail(string(b), from)
}

// truncated reports whether the head missed part of the stream.
func (c *capture) truncated() bool { return c.total > int64(len(c.head)) }

// section renders one stream for the evidence.
func (c *capture) section(w io.Writer, name string) {
	t := c.tailString(c.tailCap)
	switch {
	case c.total == 0:
		fmt.Fprintf(w, "--- %s (empty) ---\n", name)
		return
	case c.total > int64(c.tailCap):
		fmt.Fprintf(w, "--- %s (last %d of %d bytes) ---\n", name, c.tailCap, c.total)
	default:
		fmt.Fprintf(w, "--- %s (%d bytes) ---\n", name, c.total)
	}
	io.WriteString(w, t)
	if !strings.HasSuffix(t, "\n") {
		io.WriteString(w, "\n")
	}
}

// errTailBytes bounds the output quoted in an error message; the evidence
// holds the full tails.
const errTailBytes = 1024

// outputHint quotes the end of stderr, or of stdout when stderr is empty,
// so that an error message says what the tool complained about.
func outputHint(stdout, stderr *capture) string {
	if h := tailHint("stderr", stderr); h != "" {
		return h
	}
	if h := tailHint("stdout", stdout); h != "" {
		return h
	}
	return "no output"
}

func stdoutHint(c *capture) string {
	if h := tailHint("stdout", c); h != "" {
		return h
	}
	return "stdout is empty"
}

func tailHint(name string, c *capture) string {
	s := strings.TrimSpace(c.tailString(min(errTailBytes, c.tailCap)))
	if s == "" {
		return ""
	}
	return name + " tail: " + s
}

// extractOutputs applies every output spec to stdout. It reports all the
// outputs that failed, not only the first.
func extractOutputs(specs []compiledOutput, stdout []byte) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(specs))
	var errs []error
	var doc any
	var docErr error
	parsed := false
	for _, s := range specs {
		if s.re != nil {
			m := s.re.FindSubmatch(stdout)
			switch {
			case m == nil:
				errs = append(errs, fmt.Errorf("output %s: regex /%s/ did not match stdout", s.name, s.re))
			case len(m) > 1:
				out[s.name] = string(m[1])
			default:
				out[s.name] = string(m[0])
			}
			continue
		}
		if !parsed {
			doc, docErr = parseJSON(stdout)
			parsed = true
		}
		if docErr != nil {
			errs = append(errs, fmt.Errorf("output %s: json path %s: %w", s.name, s.path, docErr))
			continue
		}
		v, err := jsonLookup(doc, s.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("output %s: json path %s: %w", s.name, s.path, err))
			continue
		}
		out[s.name] = v
	}
	return out, errors.Join(errs...)
}

func parseJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	// Numbers keep their text: a version like 1.10 must not become 1.1.
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("stdout is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("stdout holds more than one JSON value")
	}
	return doc, nil
}

// jsonLookup follows a dot path. Keys that contain a dot cannot be reached;
// such tools are rare enough to be handled with a regex output instead.
func jsonLookup(doc any, path string) (string, error) {
	cur := doc
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		at := strings.Join(segs[:i+1], ".")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return "", fmt.Errorf("%s not found", at)
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(v) {
				return "", fmt.Errorf("%s not found: the list has %d elements", at, len(v))
			}
			cur = v[n]
		default:
			return "", fmt.Errorf("%s not found: %s is %s", at, strings.Join(segs[:i], "."), jsonKind(cur))
		}
	}
	switch v := cur.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", fmt.Errorf("is %s, not a string, number or bool", jsonKind(cur))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a bool"
	}
	return "a number"
}
