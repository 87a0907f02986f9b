package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func labelParams(field string) *LabelParams { return &LabelParams{field: field} }

func TestLabelParamsValidate(t *testing.T) {
	ok := func(p *LabelParams) *LabelParams {
		p.Kind = "Namespace"
		if p.Name == "" && p.Selector == "" {
			p.Name = "istio-system"
		}
		return p
	}
	cases := []struct {
		name  string
		field string
		p     *LabelParams
		want  []string // "field: substring"; none means valid
	}{
		{"set and remove", "labels", ok(&LabelParams{Set: map[string]string{"istio.io/rev": "asm-1-20"}, Remove: []string{"istio-injection"}}), nil},
		{"references are not judged", "labels", ok(&LabelParams{Name: "${item}", Namespace: "${params.ns}", Selector: "",
			Set: map[string]string{"istio.io/rev": "${params.newRev}"}, Remove: []string{"${params.key}"}, Restore: "${steps.a.previous}"}), nil},
		{"restore alone", "labels", ok(&LabelParams{Restore: "istio.io/rev=asm-1-19,istio-injection-"}), nil},
		{"annotation values are free", "annotations", ok(&LabelParams{Set: map[string]string{"note": "any text, even: this"}}), nil},
		{"no kind", "labels", &LabelParams{Name: "x", Set: map[string]string{"a": "b"}}, []string{"kind: is required"}},
		{"no name or selector", "labels", &LabelParams{Kind: "Namespace", Set: map[string]string{"a": "b"}}, []string{": set one of name or selector"}},
		{"name and selector", "labels", ok(&LabelParams{Name: "a", Selector: "app=x", Set: map[string]string{"a": "b"}}), []string{"selector: set exactly one"}},
		{"nothing to change", "labels", ok(&LabelParams{}), []string{": set, remove or restore"}},
		{"bad key", "labels", ok(&LabelParams{Set: map[string]string{"bad key": "v"}}), []string{"set.bad key: invalid key"}},
		{"templated key", "labels", ok(&LabelParams{Set: map[string]string{"${params.k}": "v"}}), []string{"never templated"}},
		{"bad label value", "labels", ok(&LabelParams{Set: map[string]string{"a": "has space"}}), []string{"set.a: invalid label value"}},
		{"key set and removed", "labels", ok(&LabelParams{Set: map[string]string{"a": "1"}, Remove: []string{"a"}}), []string{"remove.0: key a is also in set"}},
		{"bad remove key", "labels", ok(&LabelParams{Remove: []string{"-x"}}), []string{"remove.0: invalid key"}},
		{"bad selector", "labels", ok(&LabelParams{Selector: "app in (", Set: map[string]string{"a": "b"}}), []string{"selector: invalid label selector"}},
		{"bad namespace", "labels", ok(&LabelParams{Namespace: "Not_A_Namespace", Set: map[string]string{"a": "b"}}), []string{"namespace: invalid namespace"}},
		{"bad restore", "labels", ok(&LabelParams{Restore: "a=1,b"}), []string{`restore: invalid entry "b"`}},
		{"allowEmpty with name", "labels", ok(&LabelParams{AllowEmpty: true, Set: map[string]string{"a": "b"}}), []string{"allowEmpty: applies only to selector"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.p.field = c.field
			got := c.p.Validate()
			var msgs []string
			for _, fe := range got {
				msgs = append(msgs, fe.Field+": "+fe.Msg)
			}
			if len(c.want) == 0 && len(got) > 0 {
				t.Fatalf("Validate() = %q, want no errors", msgs)
			}
			if len(got) != len(c.want) {
				t.Fatalf("Validate() = %q, want %d errors like %q", msgs, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(msgs[i], w) {
					t.Errorf("error %d = %q, want it to contain %q", i, msgs[i], w)
				}
			}
		})
	}
}

func TestLabelSpecRoundTrip(t *testing.T) {
	p := labelParams("annotations")
	v1, v2 := "a,b%c=d", "enabled"
	prior := changes{"note": &v1, "istio-injection": &v2, "istio.io/rev": nil}
	spec := formatSpec(prior)
	if want := "istio-injection=enabled,istio.io/rev-,note=a%2Cb%25c=d"; spec != want {
		t.Fatalf("formatSpec = %q, want %q", spec, want)
	}
	got, err := p.parseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["istio.io/rev"] != nil || *got["note"] != v1 || *got["istio-injection"] != v2 {
		t.Fatalf("parseSpec(%q) = %v", spec, got)
	}
	if _, err := labelParams("labels").parseSpec("a=1,a-"); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("duplicate key: err = %v", err)
	}
	if _, err := labelParams("labels").parseSpec("a=not valid"); err == nil || !strings.Contains(err.Error(), "invalid label value") {
		t.Errorf("label value with a space: err = %v", err)
	}
}

func TestLabelWantedAndDiff(t *testing.T) {
	p := labelParams("labels")
	p.Set = map[string]string{"istio.io/rev": "asm-2"}
	p.Remove = []string{"istio-injection"}
	want, err := p.wanted()
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetLabels(map[string]string{"istio-injection": "enabled", "other": "x"})
	patch, prior := p.diff(obj, want)
	if len(patch) != 2 || patch["istio-injection"] != nil || patch["istio.io/rev"] != "asm-2" {
		t.Fatalf("patch = %v", patch)
	}
	if got := formatSpec(prior); got != "istio-injection=enabled,istio.io/rev-" {
		t.Fatalf("previous = %q", got)
	}
	if got := describePatch(patch, prior); got != `removed istio-injection (was "enabled"), set istio.io/rev="asm-2" (was unset)` {
		t.Errorf("describePatch = %q", got)
	}

	// Already in place: nothing to patch, and previous is the current state.
	obj.SetLabels(map[string]string{"istio.io/rev": "asm-2"})
	if patch, _ := p.diff(obj, want); len(patch) != 0 {
		t.Errorf("patch on a converged object = %v, want none", patch)
	}

	// Rendered values are checked again.
	p.Set = map[string]string{"istio.io/rev": "not valid"}
	if _, err := p.wanted(); err == nil || !strings.Contains(err.Error(), "set.istio.io/rev") {
		t.Errorf("wanted with a bad rendered value: err = %v", err)
	}
	p.Set, p.Remove, p.Restore = map[string]string{"a": "1"}, nil, "a-"
	if _, err := p.wanted(); err == nil || !strings.Contains(err.Error(), "also in restore") {
		t.Errorf("set and restore of one key: err = %v", err)
	}
}
