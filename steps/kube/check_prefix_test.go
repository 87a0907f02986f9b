package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestCheckJudgeFieldPrefixes(t *testing.T) {
	node := func(name, kubelet string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"kind": "Node", "metadata": map[string]any{"name": name}}}
		if kubelet != "" {
			u.Object["status"] = map[string]any{"nodeInfo": map[string]any{"kubeletVersion": kubelet}}
		}
		return u
	}
	tgt := &objTarget{q: ObjectQuery{Kind: "Node"}, m: Mapping{Kind: "Node"}}
	p := &CheckParams{ObjectQuery: tgt.q, Expect: CheckExpect{FieldPrefixes: map[string]string{"status.nodeInfo.kubeletVersion": "v1.23.5-gke"}}}

	out := objJudged(t, p, tgt, node("cp-1", "v1.23.5-gke.1505"), node("w-1", "v1.23.5-gke.1504"), node("w-2", "v1.23.5-gke.1505"))
	if len(out.failures) != 0 {
		t.Fatalf("failures = %q", out.failures)
	}
	want := `status.nodeInfo.kubeletVersion starts with "v1.23.5-gke": v1.23.5-gke.1504 on 1, v1.23.5-gke.1505 on 2`
	if got := strings.Join(out.passed, "; "); !strings.Contains(got, want) {
		t.Errorf("evidence %q, want it to hold %q", got, want)
	}

	// A node left behind and one without the field are both named.
	out = objJudged(t, p, tgt, node("cp-1", "v1.23.5-gke.1505"), node("w-1", "v1.22.8-gke.200"), node("w-2", ""))
	wantFail := `2 Nodes with status.nodeInfo.kubeletVersion not starting with "v1.23.5-gke": w-1 ("v1.22.8-gke.200"), w-2 (status.nodeInfo.kubeletVersion not set)`
	if got := strings.Join(out.failures, "; "); got != wantFail {
		t.Errorf("failures %q\nwant %q", got, wantFail)
	}
	for _, s := range out.passed {
		if strings.Contains(s, "starts with") {
			t.Errorf("a failed prefix assertion also passed: %q", s)
		}
	}

	// An empty prefix (a reference that rendered empty) matches nothing, not everything.
	empty := &CheckParams{ObjectQuery: tgt.q, Expect: CheckExpect{FieldPrefixes: map[string]string{"status.nodeInfo.kubeletVersion": ""}}}
	if out, err := empty.judge(tgt, []*unstructured.Unstructured{node("a", "v1")}); err != nil || len(out.failures) != 1 || !strings.Contains(out.failures[0], "is empty") {
		t.Errorf("empty prefix: %v %v", out, err)
	}
}

func TestCheckFieldPrefixesValidate(t *testing.T) {
	q := ObjectQuery{Kind: "Node"}
	for _, tc := range []struct {
		e    CheckExpect
		want string
	}{
		{CheckExpect{FieldPrefixes: map[string]string{"a..b": "v1"}}, "expect.fieldPrefixes.a..b: invalid field path"},
		{CheckExpect{FieldPrefixes: map[string]string{"status.x": ""}}, "expect.fieldPrefixes.status.x: needs a prefix"},
		{CheckExpect{Exists: objPtr(false), FieldPrefixes: map[string]string{"status.x": "v"}}, "exists: false cannot be combined with fieldPrefixes"},
	} {
		p := CheckParams{ObjectQuery: q, Expect: tc.e}
		errs := p.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Field+": "+errs[0].Msg, tc.want) {
			t.Errorf("Validate(%+v) = %v, want one error like %q", tc.e, errs, tc.want)
		}
	}
	ok := CheckParams{ObjectQuery: q, Expect: CheckExpect{FieldPrefixes: map[string]string{"status.nodeInfo.kubeletVersion": "${steps.map.prefix}"}}}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Errorf("reference: %v", errs)
	}
}
