package playbooks

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Scope is what references resolve against at run time.
type Scope struct {
	Params  Values
	Item    string
	HasItem bool
	// Output resolves ${steps.ID.NAME} at run time (the engine decides which
	// instance's outputs apply).
	Output func(stepID, name string) (string, error)
	// Cluster holds ${cluster.NAME}: the kubeconfig file and context that
	// select the run's cluster for a tool. nil when the run has no cluster.
	Cluster map[string]string
}

// ErrNoClusterBound is rendering ${cluster.NAME} for a run that is bound to
// no cluster.
var ErrNoClusterBound = errors.New("the run is bound to no cluster")

// ClusterRefs are the names ${cluster.NAME} may use.
var ClusterRefs = []string{"kubeconfig", "context"}

type refKind int

const (
	refParam refKind = iota + 1
	refItem
	refStep
	refCluster
)

// ref is one parsed ${...}. text is the reference as written, for messages.
type ref struct {
	kind refKind
	name string // parameter or output name
	step string
	text string
}

// segment is a literal run or a reference; exactly one is set.
type segment struct {
	lit string
	ref *ref
}

var (
	paramNameRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	idRE         = regexp.MustCompile(`^[a-z0-9-]+$`)
	outputNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

const refHelp = "use ${params.NAME}, ${steps.ID.NAME}, ${item}, ${cluster.kubeconfig} or ${cluster.context}; write $${ for a literal ${"

// parseTemplate splits s into literals and references. It is the single
// grammar used both by load-time validation and by rendering, so anything
// that loads renders.
func parseTemplate(s string) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated reference %q: missing }", s[i:])
			}
			text := s[i : i+end+1]
			r, err := parseRef(text)
			if err != nil {
				return nil, err
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{lit: lit.String()})
				lit.Reset()
			}
			segs = append(segs, segment{ref: r})
			i += end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{lit: lit.String()})
	}
	return segs, nil
}

func parseRef(text string) (*ref, error) {
	body := text[2 : len(text)-1]
	parts := strings.Split(body, ".")
	switch {
	case body == "item":
		return &ref{kind: refItem, text: text}, nil
	case len(parts) == 2 && parts[0] == "params" && paramNameRE.MatchString(parts[1]):
		return &ref{kind: refParam, name: parts[1], text: text}, nil
	case len(parts) == 3 && parts[0] == "steps" && idRE.MatchString(parts[1]) && outputNameRE.MatchString(parts[2]):
		return &ref{kind: refStep, step: parts[1], name: parts[2], text: text}, nil
	case len(parts) == 2 && parts[0] == "cluster" && slices.Contains(ClusterRefs, parts[1]):
		return &ref{kind: refCluster, name: parts[1], text: text}, nil
	case len(parts) == 2 && parts[0] == "cluster":
		return nil, fmt.Errorf("unknown reference %s: the cluster offers %s", text, strings.Join(ClusterRefs, " and "))
	}
	return nil, fmt.Errorf("malformed reference %s: %s", text, refHelp)
}

// refsOf returns the references in s, or the grammar error.
func refsOf(s string) ([]*ref, error) {
	segs, err := parseTemplate(s)
	var refs []*ref
	for _, sg := range segs {
		if sg.ref != nil {
			refs = append(refs, sg.ref)
		}
	}
	return refs, err
}

// RenderString replaces every reference in s with its value in sc.
func RenderString(s string, sc *Scope) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	segs, err := parseTemplate(s)
	if err != nil {
		return "", err
	}
	if sc == nil {
		sc = &Scope{}
	}
	var b strings.Builder
	for _, sg := range segs {
		if sg.ref == nil {
			b.WriteString(sg.lit)
			continue
		}
		v, err := sc.resolve(sg.ref)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func (sc *Scope) resolve(r *ref) (string, error) {
	switch r.kind {
	case refParam:
		if _, ok := sc.Params[r.name]; !ok {
			return "", fmt.Errorf("%s: parameter %s has no value", r.text, r.name)
		}
		return sc.Params.String(r.name), nil
	case refItem:
		if !sc.HasItem {
			return "", fmt.Errorf("%s: no foreach item in scope", r.text)
		}
		return sc.Item, nil
	case refCluster:
		v, ok := sc.Cluster[r.name]
		if !ok {
			return "", fmt.Errorf("%s: %w", r.text, ErrNoClusterBound)
		}
		return v, nil
	default:
		if sc.Output == nil {
			return "", fmt.Errorf("%s: step outputs are not available here", r.text)
		}
		v, err := sc.Output(r.step, r.name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", r.text, err)
		}
		return v, nil
	}
}

// Render returns a deep copy of params (a pointer to a params struct) with
// every string rendered. It must not modify the input: the same loaded
// params are rendered once per instance and per attempt.
func Render(params any, sc *Scope) (any, error) {
	if params == nil {
		return nil, nil
	}
	out, err := renderValue(reflect.ValueOf(params), sc, "")
	if err != nil {
		return nil, err
	}
	return out.Interface(), nil
}

func renderValue(v reflect.Value, sc *Scope, path string) (reflect.Value, error) {
	t := v.Type()
	switch t.Kind() {
	case reflect.String:
		s, err := RenderString(v.String(), sc)
		if err != nil {
			if path != "" {
				err = fmt.Errorf("%s: %w", path, err)
			}
			return v, err
		}
		out := reflect.New(t).Elem()
		out.SetString(s)
		return out, nil
	case reflect.Pointer:
		if v.IsNil() {
			return v, nil
		}
		e, err := renderValue(v.Elem(), sc, path)
		if err != nil {
			return v, err
		}
		out := reflect.New(t.Elem())
		out.Elem().Set(e)
		return out, nil
	case reflect.Interface:
		if v.IsNil() {
			return v, nil
		}
		e, err := renderValue(v.Elem(), sc, path)
		if err != nil {
			return v, err
		}
		out := reflect.New(t).Elem()
		out.Set(e)
		return out, nil
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v) // carries unexported fields over unchanged
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			f, err := renderValue(v.Field(i), sc, join(path, t.Field(i).Name))
			if err != nil {
				return v, err
			}
			out.Field(i).Set(f)
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		out := reflect.New(t).Elem()
		if t.Kind() == reflect.Slice {
			if v.IsNil() {
				return v, nil
			}
			out = reflect.MakeSlice(t, v.Len(), v.Len())
		}
		for i := 0; i < v.Len(); i++ {
			e, err := renderValue(v.Index(i), sc, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return v, err
			}
			out.Index(i).Set(e)
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return v, nil
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		it := v.MapRange()
		for it.Next() {
			e, err := renderValue(it.Value(), sc, join(path, fmt.Sprint(it.Key())))
			if err != nil {
				return v, err
			}
			out.SetMapIndex(it.Key(), e)
		}
		return out, nil
	}
	return v, nil
}
