package playbooks

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestRedactForms(t *testing.T) {
	r := NewRedactor([]string{`a"b\c`, "ab"})
	in := `x a"b\c y a\"b\\c z ` + base64.StdEncoding.EncodeToString([]byte(`a"b\c`)) + " abc"
	want := "x <redacted> y <redacted> z <redacted> <redacted>c"
	if got := r.Redact(in); got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	var nilR *Redactor
	if nilR.Redact("abc") != "abc" || nilR.RedactTail("abc", 1) != "bc" {
		t.Error("a nil Redactor changes text")
	}
}

// A tail cut through a secret shows the marker, never the secret's end.
func TestRedactTail(t *testing.T) {
	secret := strings.Repeat("S", 30)
	r := NewRedactor([]string{secret})
	s := "head " + secret + " middle " + secret + " end"
	for from := 0; from <= len(s); from++ {
		got := r.RedactTail(s, from)
		if strings.Contains(got, "SS") {
			t.Fatalf("RedactTail(%d) = %q", from, got)
		}
		if plain := s[from:]; !strings.Contains(plain, "S") && got != plain {
			t.Fatalf("RedactTail(%d) = %q, want %q", from, got, plain)
		}
	}
	if got := r.RedactTail(s, 10); got != "<redacted> middle <redacted> end" {
		t.Errorf("cut inside the first secret: %q", got)
	}
}

// Strings are redacted before they are encoded: a secret JSON would
// escape is hidden, and keys keep their order.
func TestRedactJSON(t *testing.T) {
	r := NewRedactor([]string{"q\"\\\n<"})
	got, err := r.RedactJSON([]byte(`{"z":"-q\"\\\n<-","a":[1.10,true,null,{"q\"\\\n<":"k"}]}`))
	want := `{"z":"-<redacted>-","a":[1.10,true,null,{"<redacted>":"k"}]}`
	if err != nil || got != want {
		t.Errorf("RedactJSON = %s, %v\nwant %s", got, err, want)
	}
}

// However a stream is split into writes, redacting it piece by piece
// gives what redacting it whole gives, and no piece holds a secret's start
// that a later piece completes.
func TestRedactStream(t *testing.T) {
	r := NewRedactor([]string{"hunter2", "pass\nword", "ab"})
	whole := "x hunter2 y pass\nword z hunt\ner abab hunter hunter2\n"
	want := r.Redact(whole)
	feed := func(pieces []string) string {
		var got, pending strings.Builder
		for _, p := range pieces {
			pending.WriteString(p)
			out, n := r.RedactStream(pending.String(), false)
			got.WriteString(out)
			rest := pending.String()[n:]
			if len(rest) >= r.MaxLen() {
				t.Fatalf("%q held back, longer than MaxLen %d", rest, r.MaxLen())
			}
			if strings.Contains(got.String(), "hunter2") || strings.Contains(got.String(), "pass\n") {
				t.Fatalf("pieces %q: emitted %q", pieces, got.String())
			}
			pending.Reset()
			pending.WriteString(rest)
		}
		out, _ := r.RedactStream(pending.String(), true)
		return got.String() + out
	}
	for i := 0; i <= len(whole); i++ {
		for j := i; j <= len(whole); j++ {
			if got := feed([]string{whole[:i], whole[i:j], whole[j:]}); got != want {
				t.Fatalf("split at %d,%d: %q, want %q", i, j, got, want)
			}
		}
	}
	// Text that cannot begin a secret is never held back.
	if out, n := r.RedactStream("plain line\n", false); n != len("plain line\n") || out != "plain line\n" {
		t.Errorf("plain text held back: %q, %d", out, n)
	}
	if out, n := r.RedactStream("a line ending in hun", false); out != "a line ending in " || n != len("a line ending in ") {
		t.Errorf("a secret's start not held back: %q, %d", out, n)
	}
}
