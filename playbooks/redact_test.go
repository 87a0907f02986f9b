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
