package kube

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestWaitForParamsValidate(t *testing.T) {
	q := ObjectQuery{Kind: "Deployment", Namespace: "app", Name: "web"}
	for _, tc := range []struct {
		p    WaitForParams
		want string
	}{
		{WaitForParams{ObjectQuery: q}, ": set what to wait for"},
		{WaitForParams{ObjectQuery: q, Deleted: true, Field: &FieldCondition{Path: "a", Equals: "b"}}, "deleted: deleted waits"},
		{WaitForParams{ObjectQuery: q, Condition: &WaitCondition{}}, "condition.type: is required"},
		{WaitForParams{ObjectQuery: q, Field: &FieldCondition{Path: "a"}}, "field: set one of equals"},
		{WaitForParams{ObjectQuery: q, Field: &FieldCondition{Path: "a", Equals: "x", In: []string{"y"}}}, "field.in: set exactly one comparison, not equals and in"},
		{WaitForParams{ObjectQuery: q, Fields: []FieldCondition{{Path: "a", Equals: "x"}, {Path: "b..c", Equals: "y"}}}, "fields.1.path: invalid field path"},
		{WaitForParams{ObjectQuery: q, Deleted: true, Match: "any"}, "match: does not apply to deleted"},
		{WaitForParams{ObjectQuery: q, Deleted: true, Match: "some"}, `match: must be all or any, not "some"`},
		{WaitForParams{ObjectQuery: q, Deleted: true, Timeout: -time.Second}, "timeout: must not be negative"},
	} {
		errs := tc.p.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Field+": "+errs[0].Msg, tc.want) {
			t.Errorf("Validate(%+v) = %v, want one error like %q", tc.p, errs, tc.want)
		}
	}
}

// A reference that renders to "" keeps the comparison Validate saw.
func TestFieldConditionKeepsOpAcrossRendering(t *testing.T) {
	f := &FieldCondition{Path: "status.state", Equals: "${steps.a.state}"}
	p := &WaitForParams{ObjectQuery: ObjectQuery{Kind: "X", Namespace: "n"}, Field: f}
	if errs := p.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	rendered := *f
	rendered.Equals = ""
	obj := map[string]any{"status": map[string]any{"state": ""}}
	if ok, found, err := rendered.eval(obj); err != nil || !ok {
		t.Errorf("equals \"\" after rendering: ok=%v found=%q err=%v", ok, found, err)
	}
	if ok, found, _ := rendered.eval(map[string]any{}); ok || found != `status.state is not set (want "")` {
		t.Errorf("missing field: ok=%v found=%q", ok, found)
	}
}

func objWithState(name, state string, conds ...map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"kind": "DataPlaneControl",
		"metadata": map[string]any{"name": name, "generation": int64(2)},
		"spec":     map[string]any{"revision": "rapid"}}}
	status := map[string]any{}
	if state != "" {
		status["state"] = state
	}
	if len(conds) > 0 {
		cs := []any{}
		for _, c := range conds {
			cs = append(cs, c)
		}
		status["conditions"] = cs
	}
	u.Object["status"] = status
	return u
}

func TestWaitForEvaluator(t *testing.T) {
	tgt := &objTarget{q: ObjectQuery{Kind: "DataPlaneControl"}, m: Mapping{Kind: "DataPlaneControl"}}
	p := &WaitForParams{ObjectQuery: tgt.q, Field: &FieldCondition{Path: "status.state", NotEquals: "none"}}
	eval := p.evaluator(tgt)
	a, b := objWithState("a", "none"), objWithState("b", "")
	v := eval([]*unstructured.Unstructured{a, b})
	if v.done || v.summary != `0/2 DataPlaneControls satisfied; waiting for a (status.state="none" (want not "none")), b (status.state is not set (want not "none"))` {
		t.Errorf("all, none ready: %+v", v)
	}
	v = eval([]*unstructured.Unstructured{objWithState("a", "ACTIVE"), b})
	if v.done {
		t.Errorf("all with one ready: %+v", v)
	}
	p.Match = "any"
	if v := p.evaluator(tgt)([]*unstructured.Unstructured{objWithState("a", "ACTIVE"), b}); !v.done || !strings.HasPrefix(v.summary, "1/2 DataPlaneControls satisfied: a (") {
		t.Errorf("any with one ready: %+v", v)
	}
	if v := p.evaluator(tgt)(nil); v.done || v.summary != "nothing matches DataPlaneControls yet" {
		t.Errorf("no objects: %+v", v)
	}

	del := (&WaitForParams{ObjectQuery: tgt.q, Deleted: true}).evaluator(tgt)
	if v := del(nil); !v.done {
		t.Errorf("deleted, none left: %+v", v)
	}
	if v := del([]*unstructured.Unstructured{a}); v.done || v.summary != "1 still present: DataPlaneControl a" {
		t.Errorf("deleted, one left: %+v", v)
	}
}

func TestWaitConditionEval(t *testing.T) {
	c := &WaitCondition{Type: "Available"}
	cond := func(status string, og int64) map[string]any {
		m := map[string]any{"type": "Available", "status": status, "reason": "MinimumReplicasAvailable"}
		if og > 0 {
			m["observedGeneration"] = og
		}
		return m
	}
	for _, tc := range []struct {
		u     *unstructured.Unstructured
		ok    bool
		found string
	}{
		{objWithState("a", "", cond("True", 0)), true, "Available=True: MinimumReplicasAvailable"},
		{objWithState("a", "", cond("False", 0)), false, "Available=False: MinimumReplicasAvailable"},
		{objWithState("a", "", cond("True", 1)), false, "Available=True: MinimumReplicasAvailable (for generation 1, the object is at 2)"},
		{objWithState("a", ""), false, "no Available condition"},
	} {
		ok, found := c.eval(tc.u)
		if ok != tc.ok || found != tc.found {
			t.Errorf("eval = %v %q, want %v %q", ok, found, tc.ok, tc.found)
		}
	}
	stale := objWithState("a", "", cond("True", 0))
	stale.Object["status"].(map[string]any)["observedGeneration"] = int64(1)
	if ok, found := c.eval(stale); ok || !strings.Contains(found, "status is for generation 1") {
		t.Errorf("stale status: %v %q", ok, found)
	}
	if ok, _ := (&WaitCondition{Type: "Available", Status: "false"}).eval(objWithState("a", "", cond("False", 0))); !ok {
		t.Error("status compares case-insensitively")
	}
}
