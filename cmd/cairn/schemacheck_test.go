package main

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// schemaCheck validates v (as yaml.v3 decodes into any) against a JSON
// Schema (draft-07), for the keywords cairn's schema uses: $ref to
// #/definitions, type, const, enum, pattern, properties,
// additionalProperties, required, items, minItems, oneOf, if/then/else,
// min/maxProperties,
// minimum, maximum. It returns every violation with its path.
func schemaCheck(root map[string]any, schema any, v any, path string) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		return schemaCheck(root, root["definitions"].(map[string]any)[name], v, path)
	}
	var errs []string
	fail := func(format string, a ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, a...)) }
	if t, ok := s["type"]; ok && !typeMatches(t, v) {
		fail("%v is not of type %v", v, t)
		return errs
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, v) {
		fail("%v is not %v", v, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return reflect.DeepEqual(x, v) }) {
		fail("%v is not one of %v", v, e)
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := v.(string); isStr && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	}
	if n, ok := toFloat(v); ok {
		if m, has := s["minimum"].(float64); has && n < m {
			fail("%v < minimum %v", v, m)
		}
		if m, has := s["maximum"].(float64); has && n > m {
			fail("%v > maximum %v", v, m)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, val := range x {
			if ps, ok := props[k]; ok {
				errs = append(errs, schemaCheck(root, ps, val, path+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("unknown key %s", k)
				}
			case map[string]any:
				errs = append(errs, schemaCheck(root, ap, val, path+"."+k)...)
			}
		}
		for _, r := range asList(s["required"]) {
			if _, ok := x[r.(string)]; !ok {
				fail("missing %s", r)
			}
		}
		if m, ok := s["minProperties"].(float64); ok && float64(len(x)) < m {
			fail("fewer than %v keys", m)
		}
		if m, ok := s["maxProperties"].(float64); ok && float64(len(x)) > m {
			fail("more than %v keys", m)
		}
	case []any:
		if m, ok := s["minItems"].(float64); ok && float64(len(x)) < m {
			fail("fewer than %v items", m)
		}
		for i, e := range x {
			errs = append(errs, schemaCheck(root, s["items"], e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	if cond, ok := s["if"]; ok {
		branch := s["else"]
		if len(schemaCheck(root, cond, v, path)) == 0 {
			branch = s["then"]
		}
		errs = append(errs, schemaCheck(root, branch, v, path)...)
	}
	if one := asList(s["oneOf"]); len(one) > 0 {
		n := 0
		for _, alt := range one {
			if len(schemaCheck(root, alt, v, path)) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches %d of the oneOf alternatives, want exactly 1", n)
		}
	}
	return errs
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func typeMatches(t any, v any) bool {
	names := []string{}
	switch tt := t.(type) {
	case string:
		names = append(names, tt)
	case []any:
		for _, n := range tt {
			names = append(names, n.(string))
		}
	}
	for _, n := range names {
		switch x := v.(type) {
		case nil:
			if n == "null" {
				return true
			}
		case string:
			if n == "string" {
				return true
			}
		case bool:
			if n == "boolean" {
				return true
			}
		case int:
			if n == "integer" || n == "number" {
				return true
			}
		case float64:
			if n == "number" || (n == "integer" && x == math.Trunc(x)) {
				return true
			}
		case map[string]any:
			if n == "object" {
				return true
			}
		case []any:
			if n == "array" {
				return true
			}
		}
	}
	return false
}
