package playbooks

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testScope() *Scope {
	return &Scope{
		Params: Values{
			"rev":   "asm-1",
			"ns":    []string{"a", "b"},
			"n":     int64(3),
			"on":    true,
			"wait":  90 * time.Second,
			"empty": "",
		},
		Item:    "it",
		HasItem: true,
		Output: func(step, name string) (string, error) {
			if step == "install" && name == "rev" {
				return "r-9", nil
			}
			return "", errors.New("no such output")
		},
	}
}

func TestRenderString(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"revision=${params.rev}", "revision=asm-1", ""},
		{"${params.ns}", "a,b", ""},
		{"ns=${params.ns};", "ns=a,b;", ""},
		{"${params.n}/${params.on}/${params.wait}", "3/true/1m30s", ""},
		{"${item}-${steps.install.rev}", "it-r-9", ""},
		{"$${params.rev} costs $5 and $$ and ${params.rev}$", "${params.rev} costs $5 and $$ and asm-1$", ""},
		{"[${params.empty}]", "[]", ""},
		{"${params.nope}", "", "parameter nope has no value"},
		{"${steps.install.x}", "", "${steps.install.x}: no such output"},
		{"${params.rev", "", "unterminated reference"},
		{"${foo}", "", "malformed reference ${foo}"},
	}
	for _, c := range cases {
		got, err := RenderString(c.in, testScope())
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := RenderString("${item}", &Scope{}); err == nil {
		t.Error("${item} rendered without an item")
	}
	if _, err := RenderString("${steps.a.b}", nil); err == nil {
		t.Error("step output rendered without Output")
	}
}

func TestRenderDeepCopiesWithoutMutating(t *testing.T) {
	in := &typesParams{
		Str:      "${params.rev}",
		Strs:     []string{"x", "${item}"},
		Inners:   []typesInner{{Name: "${params.ns}", Port: 1}},
		StrMap:   map[string]string{"${item}": "${params.n}"},
		InnerMap: map[string]typesInner{"k": {Name: "${steps.install.rev}"}},
		InnerPtr: &typesInner{Name: "$${item}"},
		Dur:      time.Second,
		Base:     typesBase{Label: "${params.on}"},
		hidden:   "${params.rev}",
	}
	orig := *in
	orig.Strs = append([]string(nil), in.Strs...)
	ptr := in.InnerPtr

	out, err := Render(in, testScope())
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*typesParams)
	want := &typesParams{
		Str:      "asm-1",
		Strs:     []string{"x", "it"},
		Inners:   []typesInner{{Name: "a,b", Port: 1}},
		StrMap:   map[string]string{"${item}": "3"}, // keys are not templates
		InnerMap: map[string]typesInner{"k": {Name: "r-9"}},
		InnerPtr: &typesInner{Name: "${item}"},
		Dur:      time.Second,
		Base:     typesBase{Label: "true"},
		hidden:   "${params.rev}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered\n%+v\nwant\n%+v", got, want)
	}
	if in.Str != "${params.rev}" || in.Strs[1] != "${item}" || in.Inners[0].Name != "${params.ns}" ||
		in.StrMap["${item}"] != "${params.n}" || in.InnerMap["k"].Name != "${steps.install.rev}" ||
		in.InnerPtr != ptr || ptr.Name != "$${item}" || in.Base.Label != "${params.on}" {
		t.Errorf("input mutated: %+v", in)
	}
	// Mutating the copy must not reach the input either.
	got.Strs[0], got.Inners[0].Name, got.InnerPtr.Name = "changed", "changed", "changed"
	got.StrMap["new"] = "v"
	if in.Strs[0] != "x" || in.Inners[0].Name != "${params.ns}" || ptr.Name != "$${item}" || len(in.StrMap) != 1 {
		t.Errorf("copy shares memory with input: %+v", in)
	}
}

func TestRenderErrorNamesField(t *testing.T) {
	_, err := Render(&execParams{Argv: []string{"ok", "${params.gone}"}}, testScope())
	if err == nil || !strings.HasPrefix(err.Error(), "Argv[1]: ") {
		t.Errorf("got %v", err)
	}
	if out, err := Render(nil, nil); out != nil || err != nil {
		t.Errorf("Render(nil) = %v, %v", out, err)
	}
}

func TestCondition(t *testing.T) {
	cases := []struct {
		src  string
		want bool
	}{
		{"${params.on}", true},
		{"TRUE", true},
		{"  true  ", true},
		{"${params.rev}", false},
		{"false", false},
		{"${params.rev} == asm-1", true},
		{"${params.rev}==asm-1", true},
		{"${params.rev} != asm-1", false},
		{"${params.rev} != default", true},
		{"${params.empty} == ''", true},
		{`${params.empty} == ""`, true},
		{"${params.rev} == ''", false},
		{"'a b' == 'a b'", true},
		{"a b == a b", true},
		{"'${item} x' == \"it x\"", true},
		{"${params.ns} == a,b", true},
		{"'a == b' == 'a == b'", true},
		{"it's == it's", true},
		{"$${x} == '$${x}'", true},
		{"${steps.install.rev} != ${item}", true},
	}
	for _, c := range cases {
		cond, err := ParseCondition(c.src, Pos{})
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		got, err := cond.Eval(testScope())
		if err != nil || got != c.want {
			t.Errorf("%q = %v, %v; want %v", c.src, got, err, c.want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	for _, src := range []string{"", "  ", "== a", "a ==", "a != ", "a == b == c", "'a' b", "'open == x",
		"${params.x == y", "${bad} == y", "a == 'b' c"} {
		if _, err := ParseCondition(src, Pos{}); err == nil {
			t.Errorf("%q parsed", src)
		}
	}
	// A value containing an operator is data, not syntax.
	c, _ := ParseCondition("${params.v} == x", Pos{})
	if ok, err := c.Eval(&Scope{Params: Values{"v": "x == x"}}); ok || err != nil {
		t.Errorf("injected operator: %v %v", ok, err)
	}
	// A Condition built by hand (not via ParseCondition) still works.
	if ok, err := (&Condition{Source: "a != b"}).Eval(nil); !ok || err != nil {
		t.Errorf("unparsed Condition: %v %v", ok, err)
	}
	if _, err := (&Condition{Source: "${params.missing}"}).Eval(&Scope{}); err == nil {
		t.Error("missing param evaluated")
	}
}

func TestClusterRefs(t *testing.T) {
	sc := &Scope{Cluster: map[string]string{"kubeconfig": "/run/kc", "context": "prod"}}
	got, err := RenderString("--kubeconfig=${cluster.kubeconfig} --context ${cluster.context}", sc)
	if err != nil || got != "--kubeconfig=/run/kc --context prod" {
		t.Errorf("RenderString = %q, %v", got, err)
	}
	_, err = RenderString("${cluster.kubeconfig}", &Scope{})
	if !errors.Is(err, ErrNoClusterBound) || !strings.Contains(err.Error(), "${cluster.kubeconfig}") {
		t.Errorf("unbound run: %v", err)
	}
}
