package kube

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// FieldPath is a parsed path into an object, written the way kubectl's
// jsonpath spells it without the braces: dots separate keys, `\.` is a dot
// inside a key (label and annotation keys are full of them), and a numeric
// segment or a [N] suffix indexes a list. "metadata.labels.istio\.io/rev",
// ".spec.containers[0].image" and "{.status.state}" are all accepted, so a
// path can be pasted from a kubectl command line.
type FieldPath []fieldSeg

type fieldSeg struct {
	key   string
	index int // -1 unless the segment is a [N] suffix
}

func (p FieldPath) String() string {
	var b strings.Builder
	for _, s := range p {
		if s.index >= 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s.key, `\`, `\\`), ".", `\.`))
	}
	return b.String()
}

// ParseFieldPath parses a path; see FieldPath for the syntax.
func ParseFieldPath(s string) (FieldPath, error) {
	src := s
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		s = s[1 : len(s)-1]
	}
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, fmt.Errorf("empty field path")
	}
	var (
		out     FieldPath
		key     strings.Builder
		started bool // a key, possibly empty because of escapes, is being read
	)
	bad := func(format string, args ...any) (FieldPath, error) {
		return nil, fmt.Errorf("invalid field path %q: %s (write keys separated by dots, e.g. metadata.labels.istio\\.io/rev)", src, fmt.Sprintf(format, args...))
	}
	flush := func() bool {
		if !started {
			return false
		}
		out = append(out, fieldSeg{key: key.String(), index: -1})
		key.Reset()
		started = false
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 == len(s) {
				return bad("it ends with a lone backslash")
			}
			i++
			key.WriteByte(s[i])
			started = true
		case '.':
			if !flush() && (len(out) == 0 || out[len(out)-1].index < 0) {
				return bad("empty segment at offset %d", i)
			}
			if i+1 == len(s) {
				return bad("it ends with a dot")
			}
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return bad("unterminated [")
			}
			n, err := strconv.Atoi(s[i+1 : i+end])
			if err != nil || n < 0 {
				return bad("[%s] is not a list index (only numeric indexes are supported)", s[i+1:i+end])
			}
			flush()
			if len(out) == 0 {
				return bad("it starts with an index")
			}
			out = append(out, fieldSeg{index: n})
			i += end
		default:
			key.WriteByte(c)
			started = true
		}
	}
	flush()
	return out, nil
}

// Lookup returns the value at p in obj (a decoded JSON object, as in
// unstructured.Unstructured.Object). A plain numeric key also indexes a
// list, so "spec.containers.0.image" works like "spec.containers[0].image".
func (p FieldPath) Lookup(obj map[string]any) (any, bool) {
	var cur any = obj
	for _, s := range p {
		switch v := cur.(type) {
		case map[string]any:
			if s.index >= 0 {
				return nil, false
			}
			next, ok := v[s.key]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i := s.index
			if i < 0 {
				n, err := strconv.Atoi(s.key)
				if err != nil {
					return nil, false
				}
				i = n
			}
			if i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// LookupString is Lookup with the value formatted as FormatFieldValue does.
func (p FieldPath) LookupString(obj map[string]any) (string, bool) {
	v, ok := p.Lookup(obj)
	if !ok {
		return "", false
	}
	return FormatFieldValue(v), true
}

// FormatFieldValue renders a field as the string a playbook compares with:
// scalars as kubectl prints them (1.5, true, text), null as "", and maps and
// lists as compact JSON.
func FormatFieldValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// ImageRef is a container image reference split into its parts.
type ImageRef struct {
	Repository string // everything before the tag: registry, port and path
	Tag        string // "" when the image has none
	Digest     string // "sha256:..." or ""
}

// ParseImage splits an image reference. A colon belongs to the tag only if
// it comes after the last slash, so "host:5000/img" has no tag and
// "host:5000/img:1.2" has tag 1.2; a digest ("@sha256:...") is split off
// first.
func ParseImage(image string) ImageRef {
	var r ImageRef
	name := image
	if i := strings.IndexByte(name, '@'); i >= 0 {
		r.Digest = name[i+1:]
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	if colon := strings.LastIndexByte(name, ':'); colon > slash {
		r.Tag = name[colon+1:]
		name = name[:colon]
	}
	r.Repository = name
	return r
}

// MatchesTag tells whether the image carries want: its tag, or its digest
// when want is a digest ("sha256:..."), since a pinned image has no
// meaningful tag to compare.
func (r ImageRef) MatchesTag(want string) bool {
	if strings.Contains(want, ":") {
		return r.Digest == want
	}
	return r.Tag == want
}
