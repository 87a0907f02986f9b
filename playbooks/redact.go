package playbooks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Redacted is what a secret's value becomes in free text.
const Redacted = "<redacted>"

// Redactor hides secret values in free text: messages, errors, output
// tails, outputs and rendered params. It works on decoded strings, before
// they are encoded for the journal, a log or a terminal; structure (item
// lists, instance keys, the parameters a resume needs) is never passed
// through it, and holding a secret there is refused instead (SecretIn).
//
// Besides each value itself it hides the forms a message or a tool may
// quote it in: JSON-escaped, Go-quoted (%q) and base64 (a Kubernetes
// Secret).
type Redactor struct {
	forms  []string // longest first
	first  [256]bool
	maxLen int
}

// NewRedactor builds a Redactor for the given secrets; empty ones are ignored.
func NewRedactor(secrets []string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		goQuoted := strconv.Quote(s)
		r.forms = append(r.forms, s, jsonEscaped(s), goQuoted[1:len(goQuoted)-1], base64.StdEncoding.EncodeToString([]byte(s)))
	}
	// Longest first, so that "abc" is not half-replaced through a secret
	// "ab" that starts at the same place.
	slices.SortFunc(r.forms, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	r.forms = slices.Compact(r.forms)
	for _, f := range r.forms {
		r.first[f[0]] = true
		r.maxLen = max(r.maxLen, len(f))
	}
	return r
}

// Redact replaces every occurrence of every secret with "<redacted>".
func (r *Redactor) Redact(s string) string {
	return r.RedactTail(s, 0)
}

// RedactTail redacts s and returns the part of the result that stands for
// s[from:]: a secret that starts before from and ends after it is replaced
// whole. A caller cutting a tail off a stream keeps MaxLen bytes before
// from, so that a secret the cut goes through is still seen whole.
func (r *Redactor) RedactTail(s string, from int) string {
	if r == nil || len(r.forms) == 0 {
		return s[from:]
	}
	var b strings.Builder
	last := 0 // s[last:i] is not yet written
	started := false
	for i := 0; i < len(s); {
		f := r.match(s, i)
		if f == "" {
			i++
			continue
		}
		end := i + len(f)
		switch {
		case end <= from:
		case i < from:
			b.WriteString(Redacted)
			started = true
		default:
			if !started {
				last, started = max(last, from), true
			}
			b.WriteString(s[last:i])
			b.WriteString(Redacted)
		}
		i, last = end, end
	}
	if !started {
		last = max(last, from)
	}
	b.WriteString(s[last:])
	return b.String()
}

func (r *Redactor) match(s string, i int) string {
	if !r.first[s[i]] {
		return ""
	}
	for _, f := range r.forms {
		if strings.HasPrefix(s[i:], f) {
			return f
		}
	}
	return ""
}

// MaxLen is the length of the longest form of a secret the Redactor hides.
func (r *Redactor) MaxLen() int {
	if r == nil {
		return 0
	}
	return r.maxLen
}

// RedactJSON re-encodes a JSON document with every string in it, keys too,
// redacted as decoded text, so that the escaping JSON applies to a quote,
// a backslash or a control character cannot hide a secret from it. The
// order of keys and the text of numbers are kept.
func (r *Redactor) RedactJSON(doc []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := r.redactValue(dec, &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func (r *Redactor) redactValue(dec *json.Decoder, buf *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		buf.WriteByte(byte(t))
		for n := 0; dec.More(); n++ {
			if n > 0 {
				buf.WriteByte(',')
			}
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				buf.WriteString(quoteJSON(r.Redact(k.(string))))
				buf.WriteByte(':')
			}
			if err := r.redactValue(dec, buf); err != nil {
				return err
			}
		}
		end, err := dec.Token()
		if err != nil {
			return err
		}
		buf.WriteByte(byte(end.(json.Delim)))
	case string:
		buf.WriteString(quoteJSON(r.Redact(t)))
	case json.Number:
		buf.WriteString(t.String())
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	default:
		return fmt.Errorf("unexpected JSON token %v", tok)
	}
	return nil
}

// quoteJSON is s as a JSON string, without HTML escaping (the way the
// journal and plans show params: `a > b`, not `a \u003e b`).
func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return strconv.Quote(s)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// jsonEscaped is s as it appears inside a JSON string.
func jsonEscaped(s string) string {
	q := quoteJSON(s)
	return q[1 : len(q)-1]
}

// RedactStream redacts the part of s, a stream's text so far, that what
// may follow s cannot change, and returns its redaction and its length n;
// the caller keeps s[n:] and calls again with more text appended. A
// position is settled when no secret's form could still begin there with
// the bytes yet to come, so s[n:] is always shorter than MaxLen, and
// ordinary output is never held back. With atEOF nothing more will come
// and all of s is redacted. The pieces put together are exactly Redact of
// the whole stream, however it was split.
func (r *Redactor) RedactStream(s string, atEOF bool) (out string, n int) {
	if r == nil || len(r.forms) == 0 {
		return s, len(s)
	}
	if atEOF {
		return r.Redact(s), len(s)
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if r.open(s[i:]) {
			b.WriteString(s[last:i])
			return b.String(), i
		}
		f := r.match(s, i)
		if f == "" {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(Redacted)
		i += len(f)
		last = i
	}
	b.WriteString(s[last:])
	return b.String(), len(s)
}

// open tells whether some form longer than rest begins with it: the match
// at rest's start is then undecided until more text comes.
func (r *Redactor) open(rest string) bool {
	if !r.first[rest[0]] {
		return false
	}
	for _, f := range r.forms {
		if len(f) > len(rest) && strings.HasPrefix(f, rest) {
			return true
		}
	}
	return false
}
