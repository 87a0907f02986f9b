package kube

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// changes are the wanted values by key; nil means the key must be absent.
type changes map[string]*string

// parseSpec reads "k=v,k2-". Keys and values are checked as they would be
// in Set and Remove.
func (p *LabelParams) parseSpec(spec string) (changes, error) {
	out := changes{}
	for _, e := range strings.Split(spec, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		k, v, isSet := strings.Cut(e, "=")
		if !isSet {
			var ok bool
			if k, ok = strings.CutSuffix(e, "-"); !ok {
				return nil, fmt.Errorf("invalid entry %q in %q: write key=value or key- (to remove)", e, spec)
			}
		}
		if msg := p.checkKey(k); msg != "" {
			return nil, fmt.Errorf("entry %q: %s", e, msg)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %s appears twice in %q", k, spec)
		}
		if !isSet {
			out[k] = nil
			continue
		}
		v = strings.NewReplacer("%2C", ",", "%2c", ",", "%25", "%").Replace(v)
		if msg := p.checkValue(v); msg != "" {
			return nil, fmt.Errorf("entry %q: %s", e, msg)
		}
		out[k] = &v
	}
	return out, nil
}

// formatSpec writes the prior state of keys as a Restore spec, sorted.
func formatSpec(prior changes) string {
	keys := make([]string, 0, len(prior))
	for k := range prior {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	esc := strings.NewReplacer("%", "%25", ",", "%2C")
	parts := make([]string, len(keys))
	for i, k := range keys {
		if v := prior[k]; v != nil {
			parts[i] = k + "=" + esc.Replace(*v)
		} else {
			parts[i] = k + "-"
		}
	}
	return strings.Join(parts, ",")
}

// wanted merges set, remove and restore after rendering. Rendered values
// are checked again, since a reference may have produced anything.
func (p *LabelParams) wanted() (changes, error) {
	out := changes{}
	if p.Restore != "" {
		r, err := p.parseSpec(p.Restore)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		out = r
	}
	for k, v := range p.Set {
		if msg := p.checkValue(v); msg != "" {
			return nil, fmt.Errorf("set.%s: %s", k, msg)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("set.%s: key %s is also in restore", k, k)
		}
		out[k] = &v
	}
	for _, k := range p.Remove {
		if msg := p.checkKey(k); msg != "" {
			return nil, fmt.Errorf("remove: %s", msg)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("remove: key %s is also in set or restore", k)
		}
		out[k] = nil
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("set, remove and restore are all empty after rendering")
	}
	return out, nil
}

func (p *LabelParams) current(obj *unstructured.Unstructured) map[string]string {
	if p.annotations() {
		return obj.GetAnnotations()
	}
	return obj.GetLabels()
}

// diff returns what must change on obj (nil = delete) and the prior state
// of every wanted key.
func (p *LabelParams) diff(obj *unstructured.Unstructured, want changes) (patch map[string]any, prior changes) {
	cur := p.current(obj)
	patch, prior = map[string]any{}, changes{}
	for k, v := range want {
		old, had := cur[k]
		if had {
			prior[k] = &old
		} else {
			prior[k] = nil
		}
		switch {
		case v == nil && had:
			patch[k] = nil
		case v != nil && (!had || old != *v):
			patch[k] = *v
		}
	}
	return patch, prior
}

func describePatch(patch map[string]any, prior changes) string {
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		was := "unset"
		if prior[k] != nil {
			was = fmt.Sprintf("%q", *prior[k])
		}
		if patch[k] == nil {
			parts[i] = fmt.Sprintf("removed %s (was %s)", k, was)
		} else {
			parts[i] = fmt.Sprintf("set %s=%q (was %s)", k, patch[k], was)
		}
	}
	return strings.Join(parts, ", ")
}
