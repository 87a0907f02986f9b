package playbooks

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const paramsPlaybook = header + `params:
  rev: {type: string, required: true, pattern: '^asm-[0-9]+$'}
  mode: {type: string, enum: [fast, safe], default: safe}
  ns: {type: list, default: [a]}
  zones: {type: list, enum: [x, y]}
  replicas: {type: int, default: 2}
  canary: {type: bool}
  wait: {type: duration, default: 30s}
  token: {type: string, secret: true}
  keys: {type: list, secret: true}
steps:
  - id: a
    gate: {message: hi}
`

func TestResolvePrecedenceAndTypes(t *testing.T) {
	pb := mustLoad(t, paramsPlaybook)
	file := map[string]any{"rev": "asm-1", "mode": "fast", "ns": []string{"f1", "f2"}, "replicas": "5", "zones": "x, y"}
	set := map[string]string{"rev": "asm-2", "canary": "TRUE", "wait": "1m", "token": "s3cr3t"}
	v, err := Resolve(pb, set, file)
	if err != nil {
		t.Fatal(err)
	}
	want := Values{
		"rev": "asm-2", "mode": "fast", "ns": []string{"f1", "f2"}, "zones": []string{"x", "y"},
		"replicas": int64(5), "canary": true, "wait": time.Minute, "token": "s3cr3t", "keys": []string{},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got  %#v\nwant %#v", v, want)
	}

	v, err = Resolve(pb, map[string]string{"rev": "asm-3", "ns": "p, q,,r"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v["ns"], []string{"p", "q", "r"}) || v["mode"] != "safe" || v["replicas"] != int64(2) ||
		v["canary"] != false || v["wait"] != 30*time.Second || v["token"] != "" {
		t.Errorf("defaults/zeros: %#v", v)
	}
	if got := v.String("ns") + "|" + v.String("wait") + "|" + v.String("replicas") + "|" + v.String("canary"); got != "p,q,r|30s|2|false" {
		t.Errorf("String = %q", got)
	}
}

func TestResolveCollectsAllErrors(t *testing.T) {
	pb := mustLoad(t, paramsPlaybook)
	set := map[string]string{"mode": "slow", "replicas": "two", "canary": "yes", "wait": "5", "typo": "x", "zones": "x,z"}
	file := map[string]any{"other": 1, "ns": map[string]any{"a": 1}}
	_, err := Resolve(pb, set, file)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"unknown parameter other (params file); the playbook declares: rev, mode, ns, zones, replicas, canary, wait, token, keys",
		"unknown parameter typo (-p)",
		"missing required parameter rev",
		`parameter mode (-p): "slow" is not one of: fast, safe`,
		`parameter replicas (-p): "two" is not an integer`,
		`parameter canary (-p): "yes" is not a bool`,
		`parameter wait (-p): bad duration "5"`,
		`parameter zones (-p): "z" is not one of: x, y`,
		"parameter ns (params file): expected a list, got map[string]interface {}",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
	if _, err := Resolve(pb, map[string]string{"rev": "v1"}, nil); err == nil || !strings.Contains(err.Error(), "does not match pattern") {
		t.Errorf("pattern: %v", err)
	}
}

func TestParseParamsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := ParseParamsFile(write("ok.yaml", "rev: asm-1\nreplicas: 3\nns: [a, b]\nlist2: 'c,d'\ncanary: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"rev": "asm-1", "replicas": "3", "ns": []string{"a", "b"}, "list2": "c,d", "canary": "true"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
	if got, err := ParseParamsFile(write("empty.yaml", "# nothing\n")); err != nil || len(got) != 0 {
		t.Errorf("empty file: %v %v", got, err)
	}
	bad := write("bad.yaml", "rev: asm-1\nrev: asm-2\nnested: {a: 1}\nnull:\nlist: [[x]]\n")
	_, err = ParseParamsFile(bad)
	wantErr := bad + ":2:1: duplicate key rev in params file (first at line 1)\n" +
		bad + ":3:9: nested: expected a value or a list, got a mapping\n" +
		bad + ":4:6: null: no value\n" +
		bad + ":5:8: list: list elements must be plain values, got a list"
	if err == nil || err.Error() != wantErr {
		t.Errorf("got\n%v\nwant\n%s", err, wantErr)
	}
	if _, err := ParseParamsFile(write("syntax.yaml", "a: [b\n")); err == nil || !strings.Contains(err.Error(), "syntax.yaml:1: invalid YAML") {
		t.Errorf("syntax: %v", err)
	}
	if _, err := ParseParamsFile(write("list.yaml", "- a\n")); err == nil || !strings.Contains(err.Error(), ":1:1: expected a mapping") {
		t.Errorf("list: %v", err)
	}
}

func TestSecretsAndRedaction(t *testing.T) {
	pb := mustLoad(t, paramsPlaybook)
	v, err := Resolve(pb, map[string]string{"rev": "asm-1", "token": "hunter2", "keys": "k1,key2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	red := v.Redacted(pb)
	if red["token"] != "<redacted>" || red["keys"] != "<redacted>" || red["rev"] != "asm-1" || red["ns"] != "a" {
		t.Errorf("Redacted = %v", red)
	}
	secrets := v.Secrets(pb)
	if !reflect.DeepEqual(secrets, []string{"hunter2", "k1,key2", "k1", "key2"}) {
		t.Errorf("Secrets = %q", secrets)
	}
	r := NewRedactor(secrets)
	in := "curl -H 'Authorization: Bearer hunter2' --keys=k1,key2 key2 xk1x hunter"
	want := "curl -H 'Authorization: Bearer <redacted>' --keys=<redacted> <redacted> x<redacted>x hunter"
	if got := r.Redact(in); got != want {
		t.Errorf("Redact = %q\nwant      %q", got, want)
	}
}

func TestRedactorLongestFirst(t *testing.T) {
	// With "ab" tried first, "abc" would leave a stray "c" behind.
	r := NewRedactor([]string{"ab", "", "abc", "ab"})
	if got := r.Redact("abc ab abcab"); got != "<redacted> <redacted> <redacted><redacted>" {
		t.Errorf("got %q", got)
	}
	var nilR *Redactor
	if nilR.Redact("x") != "x" || NewRedactor(nil).Redact("x") != "x" {
		t.Error("nil/empty redactor changed text")
	}
}

// Params reach the journal as JSON, where a quote or a backslash in a
// secret is escaped: the escaped form is hidden as well.
func TestRedactorHidesJSONEscapedSecrets(t *testing.T) {
	r := NewRedactor([]string{`pa"ss\word`})
	in := `{"argv":["login","pa\"ss\\word"]} and raw pa"ss\word`
	want := `{"argv":["login","<redacted>"]} and raw <redacted>`
	if got := r.Redact(in); got != want {
		t.Errorf("Redact = %q\nwant      %q", got, want)
	}
}
