package playbooks

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeAllFieldTypes(t *testing.T) {
	src := header + `steps:
  - id: a
    types:
      label: inline
      str: 42
      flag: true
      int: -7
      int64: 0x10
      small: 127
      float: 2
      dur: 1h30m
      strs: [a, 1, true, ~]
      ints: [1, 2]
      inners: [{name: x, port: 80}, {name: y}]
      strMap: {A: "1", B: ~}
      innerMap: {k: {name: z, port: 9}}
      inner: {name: i}
      innerPtr: {port: 443}
      untagged: u
`
	pb := mustLoad(t, src)
	got := pb.Steps[0].Params.(*typesParams)
	want := &typesParams{
		Base:     typesBase{Label: "inline"},
		Str:      "42",
		Flag:     true,
		Int:      -7,
		Int64:    16,
		Small:    127,
		Float:    2,
		Dur:      90 * time.Minute,
		Strs:     []string{"a", "1", "true", ""},
		Ints:     []int{1, 2},
		Inners:   []typesInner{{"x", 80}, {"y", 0}},
		StrMap:   map[string]string{"A": "1", "B": ""},
		InnerMap: map[string]typesInner{"k": {"z", 9}},
		Inner:    typesInner{Name: "i"},
		InnerPtr: &typesInner{Port: 443},
		Untagged: "u",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeNullsAreZero(t *testing.T) {
	pb := mustLoad(t, header+"steps:\n  - id: a\n    types: {str: ~, strs: ~, innerPtr: ~, dur: ~, flag: ~}\n  - id: b\n    types: ~\n")
	for _, st := range pb.Steps {
		if p := st.Params.(*typesParams); !reflect.DeepEqual(p, &typesParams{}) {
			t.Errorf("%s: %+v", st.ID, p)
		}
	}
}

func TestFieldErrorPositions(t *testing.T) {
	// Validate's FieldError paths map to the key they name, falling back to
	// the nearest recorded ancestor and finally to the kind key.
	src := header + `steps:
  - id: a
    exec:
      argv: [x]
      outputs:
        v:
          regex: '('
        w: {}
  - id: b
    exec: {}
`
	_, err := Load("t.yaml", []byte(src), testRegistry{})
	want := []string{
		"t.yaml:11:11: outputs.v.regex: bad regex",
		"t.yaml:12:9: outputs.w: set exactly one of regex and json",
		"t.yaml:14:5: argv: must not be empty",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

func TestValidateSkippedAfterDecodeErrors(t *testing.T) {
	// A wrong type must not also produce Validate's "must not be empty".
	_, err := Load("t.yaml", []byte(header+"steps:\n  - id: a\n    exec: {argv: x}\n"), testRegistry{})
	if err == nil || strings.Contains(err.Error(), "must not be empty") || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("got %v", err)
	}
}

type badKind struct{}

func (badKind) NewParams() any { return &struct{ C chan int }{} }

type badRegistry struct{ testRegistry }

func (badRegistry) Kind(name string) (KindSpec, bool) {
	if name == "bad" {
		return badKind{}, true
	}
	return testRegistry{}.Kind(name)
}

func TestDecodeUnsupportedFieldTypeIsReported(t *testing.T) {
	_, err := Load("t.yaml", []byte(header+"steps:\n  - id: a\n    bad: {c: 1}\n"), badRegistry{})
	if err == nil || !strings.Contains(err.Error(), "not supported by the loader") {
		t.Errorf("got %v", err)
	}
}
