package kube

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WaitCondition is a status condition as in `kubectl wait --for=condition=`.
type WaitCondition struct {
	Type   string `yaml:"type" json:"type"`
	Status string `yaml:"status" json:"status,omitempty"` // default "True"
	Reason string `yaml:"reason" json:"reason,omitempty"` // optional
}

// FieldCondition compares one field with exactly one of Equals, NotEquals,
// In or NotIn. A missing field satisfies none of them: "status.state !=
// none" must not pass before the controller has written any state.
type FieldCondition struct {
	Path      string   `yaml:"path" json:"path"`
	Equals    string   `yaml:"equals" json:"equals,omitempty"`
	NotEquals string   `yaml:"notEquals" json:"notEquals,omitempty"`
	In        []string `yaml:"in" json:"in,omitempty"`
	NotIn     []string `yaml:"notIn" json:"notIn,omitempty"`

	// op is the comparison Validate saw. Rendering carries it over, so that
	// `equals: ${steps.x.v}` rendering to "" still compares with "" instead
	// of looking like no comparison at all.
	op string
}

func (f *FieldCondition) validate(add func(field, format string, args ...any)) {
	if strings.TrimSpace(f.Path) == "" {
		add("path", "is required, e.g. status.state")
	} else if !strings.Contains(f.Path, "${") {
		if _, err := ParseFieldPath(f.Path); err != nil {
			add("path", "%v", err)
		}
	}
	switch ops := f.ops(); len(ops) {
	case 0:
		add("", "set one of equals, notEquals, in or notIn (to compare with an empty value use in: [\"\"])")
	case 1:
		f.op = ops[0]
	default:
		add(ops[1], "set exactly one comparison, not %s", strings.Join(ops, " and "))
	}
}

// comparison is the operator in force: the one Validate recorded, else the
// only one set.
func (f *FieldCondition) comparison() string {
	if f.op != "" {
		return f.op
	}
	if ops := f.ops(); len(ops) == 1 {
		return ops[0]
	}
	return ""
}

func (f *FieldCondition) ops() []string {
	var ops []string
	if f.Equals != "" {
		ops = append(ops, "equals")
	}
	if f.NotEquals != "" {
		ops = append(ops, "notEquals")
	}
	if len(f.In) > 0 {
		ops = append(ops, "in")
	}
	if len(f.NotIn) > 0 {
		ops = append(ops, "notIn")
	}
	return ops
}

// eval tests one object: ok, and what was found when it is not.
func (f *FieldCondition) eval(obj map[string]any) (bool, string, error) {
	path, err := ParseFieldPath(f.Path)
	if err != nil {
		return false, "", err
	}
	v, found := path.LookupString(obj)
	if !found {
		return false, fmt.Sprintf("%s is not set (want %s)", path, f.want()), nil
	}
	var ok bool
	switch f.comparison() {
	case "equals":
		ok = v == f.Equals
	case "notEquals":
		ok = v != f.NotEquals
	case "in":
		ok = slices.Contains(f.In, v)
	case "notIn":
		ok = !slices.Contains(f.NotIn, v)
	default:
		return false, "", fmt.Errorf("field %s: set exactly one of equals, notEquals, in or notIn", f.Path)
	}
	if ok {
		return true, fmt.Sprintf("%s=%q", path, v), nil
	}
	return false, fmt.Sprintf("%s=%q (want %s)", path, v, f.want()), nil
}

func (f *FieldCondition) want() string {
	switch f.comparison() {
	case "equals":
		return fmt.Sprintf("%q", f.Equals)
	case "notEquals":
		return fmt.Sprintf("not %q", f.NotEquals)
	case "in":
		return fmt.Sprintf("one of %q", f.In)
	}
	return fmt.Sprintf("none of %q", f.NotIn)
}

// eval tests one object's status condition. A condition written for an
// older generation of the object does not count: right after a spec change
// a Deployment still says Available=True about the previous spec.
func (c *WaitCondition) eval(u *unstructured.Unstructured) (bool, string) {
	want := c.Status
	if want == "" {
		want = "True"
	}
	gen := u.GetGeneration()
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		m, _ := raw.(map[string]any)
		if m == nil || m["type"] != c.Type {
			continue
		}
		status, _ := m["status"].(string)
		reason, _ := m["reason"].(string)
		found := fmt.Sprintf("%s=%s", c.Type, status)
		if reason != "" {
			found += ": " + reason
		}
		if og, ok := m["observedGeneration"].(int64); ok && gen > 0 && og < gen {
			return false, fmt.Sprintf("%s (for generation %d, the object is at %d)", found, og, gen)
		}
		if og, ok, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); ok && gen > 0 && og < gen {
			return false, fmt.Sprintf("%s (status is for generation %d, the object is at %d)", found, og, gen)
		}
		if !strings.EqualFold(status, want) || (c.Reason != "" && reason != c.Reason) {
			return false, found
		}
		return true, found
	}
	return false, "no " + c.Type + " condition"
}
