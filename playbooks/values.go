package playbooks

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Values holds typed parameter values: string, int (int64), bool, []string,
// time.Duration.
type Values map[string]any

// String renders a value as templates see it.
func (v Values) String(name string) string {
	return renderValueString(v[name])
}

func renderValueString(x any) string {
	switch x := x.(type) {
	case nil:
		return ""
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// Redacted returns each value rendered to a string, with secret params
// replaced by "<redacted>", for the journal: what resume compares and
// fills in again. Resolve refuses values that would carry a secret here.
func (v Values) Redacted(pb *Playbook) map[string]string {
	secret := map[string]bool{}
	for _, p := range pb.Params {
		secret[p.Name] = p.Secret
	}
	out := make(map[string]string, len(v))
	for name := range v {
		if secret[name] {
			out[name] = Redacted
		} else {
			out[name] = v.String(name)
		}
	}
	return out
}

// SecretIn returns the name of a secret parameter whose value (or, for a
// list, one of whose elements) occurs in s, or "" if none does. Structure
// the journal keeps in clear (foreach items, the values of other
// parameters) must not hold a secret: it is refused, not redacted, since
// redacting it would change what a resume does.
func (v Values) SecretIn(pb *Playbook, s string) string {
	for _, p := range pb.Params {
		if !p.Secret {
			continue
		}
		for _, sec := range secretValues(v, p.Name) {
			if strings.Contains(s, sec) {
				return p.Name
			}
		}
	}
	return ""
}

func secretValues(v Values, name string) []string {
	var out []string
	if s := v.String(name); s != "" {
		out = append(out, s)
	}
	if l, ok := v[name].([]string); ok && len(l) > 1 {
		for _, e := range l {
			if e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// SecretError is structure that would hold a secret's value: a foreach
// item, or the value of a parameter that is not secret. Both are kept in
// the journal in clear and shown by show and plan, so the run is refused.
type SecretError struct {
	Where  string // "step loop: foreach item 2", "parameter msg"
	Secret string // the secret parameter
}

func (e *SecretError) Error() string {
	return fmt.Sprintf("%s holds the value of secret parameter %s; it would be kept in the journal and shown in clear, so it is refused: "+
		"use the secret only in a step's params (argv, env, ...), and keep it out of foreach items and other parameters, or mark that parameter secret too", e.Where, e.Secret)
}

// Secrets returns the rendered non-empty values of secret params. For a list
// the elements are included too, since each may appear on its own.
func (v Values) Secrets(pb *Playbook) []string {
	var out []string
	for _, p := range pb.Params {
		if p.Secret {
			out = append(out, secretValues(v, p.Name)...)
		}
	}
	return out
}

// Resolve merges defaults < params file values < -p values (set), converts
// and checks types, required, enum and pattern. Parameters that are neither
// required nor given a value get their type's zero value, so every declared
// parameter can be referenced. All problems are reported together.
func Resolve(pb *Playbook, set map[string]string, file map[string]any) (Values, error) {
	var problems []error
	declared := map[string]*Param{}
	var names []string
	for _, p := range pb.Params {
		declared[p.Name] = p
		names = append(names, p.Name)
	}
	unknown := func(name, from string) {
		list := "the playbook declares no parameters"
		if len(names) > 0 {
			list = "the playbook declares: " + strings.Join(names, ", ")
		}
		problems = append(problems, fmt.Errorf("unknown parameter %s (%s); %s", name, from, list))
	}
	for _, name := range sortedKeys(file) {
		if declared[name] == nil {
			unknown(name, "params file")
		}
	}
	for _, name := range sortedKeys(set) {
		if declared[name] == nil {
			unknown(name, "-p")
		}
	}
	vals := Values{}
	for _, p := range pb.Params {
		var val any
		var from string
		if raw, ok := set[p.Name]; ok {
			val, from = raw, "-p"
		} else if raw, ok := file[p.Name]; ok {
			val, from = raw, "params file"
		}
		if from == "" {
			switch {
			case p.Default != nil:
				vals[p.Name] = p.Default
			case p.Required:
				problems = append(problems, fmt.Errorf("missing required parameter %s (pass -p %s=VALUE or set it in the params file)", p.Name, p.Name))
			default:
				vals[p.Name] = zeroValue(p.Type)
			}
			continue
		}
		typed, err := convert(p, val)
		if err == nil {
			err = p.check(typed)
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("parameter %s (%s): %w", p.Name, from, err))
			continue
		}
		vals[p.Name] = typed
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	for _, p := range pb.Params {
		if p.Secret {
			continue
		}
		if name := vals.SecretIn(pb, vals.String(p.Name)); name != "" {
			problems = append(problems, &SecretError{Where: "parameter " + p.Name, Secret: name})
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return vals, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func zeroValue(t ParamType) any {
	switch t {
	case TypeInt:
		return int64(0)
	case TypeBool:
		return false
	case TypeList:
		return []string{}
	case TypeDuration:
		return time.Duration(0)
	}
	return ""
}

// convert turns a raw value (a string from -p, or what a params file or a
// caller supplies) into p's type.
func convert(p *Param, raw any) (any, error) {
	var list []string
	isList := false
	switch r := raw.(type) {
	case []string:
		list, isList = r, true
	case []any:
		isList = true
		for _, e := range r {
			if e == nil || isComposite(e) {
				return nil, fmt.Errorf("list elements must be plain values, got %v", e)
			}
			list = append(list, fmt.Sprint(e))
		}
	case nil:
		return nil, errors.New("no value")
	default:
		if isComposite(r) {
			return nil, fmt.Errorf("expected %s, got %T", typeNames[p.Type], raw)
		}
	}
	if p.Type == TypeList {
		if isList {
			return append([]string{}, list...), nil
		}
		return splitList(renderValueString(raw)), nil
	}
	if isList {
		return nil, fmt.Errorf("expected %s, got a list", typeNames[p.Type])
	}
	return parseScalar(p.Type, renderValueString(raw))
}

func isComposite(x any) bool {
	switch x.(type) {
	case []any, []string, map[string]any, map[any]any:
		return true
	}
	return false
}

// splitList reads "a, b,c" as a list; blanks are dropped so that "" is empty.
func splitList(s string) []string {
	out := []string{}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func parseScalar(t ParamType, s string) (any, error) {
	switch t {
	case TypeInt:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return i, nil
	case TypeBool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a bool (use true or false)", s)
	case TypeDuration:
		return parseDuration(s)
	}
	return s, nil
}

// check applies enum and pattern to a string value or to each list element.
func (p *Param) check(v any) error {
	var elems []string
	switch v := v.(type) {
	case string:
		elems = []string{v}
	case []string:
		elems = v
	}
	for _, e := range elems {
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, e) {
			return fmt.Errorf("%q is not one of: %s", e, strings.Join(p.Enum, ", "))
		}
		if p.Pattern != nil && !p.Pattern.MatchString(e) {
			return fmt.Errorf("%q does not match pattern %s", e, p.Pattern)
		}
	}
	return nil
}

// ParseParamsFile decodes a YAML mapping of parameter values. Scalars are
// returned as their text and sequences as []string, so Resolve converts
// them exactly like -p values.
func ParseParamsFile(path string) (map[string]any, error) {
	src, err := ReadInput(path)
	if err != nil {
		return nil, err
	}
	return parseParams(path, src)
}

func parseParams(file string, src []byte) (map[string]any, error) {
	c := &errs{file: file}
	out := map[string]any{}
	root, ok := c.parseYAML(src)
	if !ok {
		return nil, c.list.errOrNil()
	}
	if root == nil || isNull(root) {
		return out, nil
	}
	if root.Kind != yaml.MappingNode {
		c.errorf(root, "expected a mapping of parameter names to values, got %s", describeNode(root))
		return nil, c.list.errOrNil()
	}
	for _, kv := range c.pairs(root, "params file") {
		name, v := kv.key.Value, kv.val
		switch {
		case isNull(v):
			c.errorf(v, "%s: no value", name)
		case v.Kind == yaml.ScalarNode:
			out[name] = v.Value
		case v.Kind == yaml.SequenceNode:
			list := []string{}
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode || isNull(e) {
					c.errorf(e, "%s: list elements must be plain values, got %s", name, describeNode(e))
					continue
				}
				list = append(list, e.Value)
			}
			out[name] = list
		default:
			c.errorf(v, "%s: expected a value or a list, got %s", name, describeNode(v))
		}
	}
	if err := c.list.errOrNil(); err != nil {
		return nil, err
	}
	return out, nil
}
