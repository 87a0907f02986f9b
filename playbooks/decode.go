package playbooks

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// The kinds' params are decoded here rather than with node.Decode: yaml.v3
// cannot reject unknown keys below a custom UnmarshalYAML or on a Node, and
// a misspelt key silently ignored in an upgrade playbook is a real outage.

var durationType = reflect.TypeOf(time.Duration(0))

// strNode is a decoded string and where it came from, so that references in
// it can be checked with a position once the step's context is known.
type strNode struct {
	s   string
	pos Pos
}

// decoder strictly decodes one action's params.
type decoder struct {
	*errs
	kind string
	keys map[string]Pos // dotted path → key position, for FieldError
	strs []strNode
}

// decodeParams decodes n into a fresh spec.NewParams() and runs its Validate.
func (c *errs) decodeParams(kind string, kindKey, n *yaml.Node, spec KindSpec) (any, []strNode) {
	var params any
	if spec != nil {
		params = spec.NewParams()
	}
	v := reflect.ValueOf(params)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		c.errorf(kindKey, "kind %s: NewParams must return a non-nil pointer (a bug in the kind)", kind)
		return params, nil
	}
	d := &decoder{errs: c, kind: kind, keys: map[string]Pos{}}
	before := len(c.list)
	d.decode(n, v.Elem(), "")
	// Validate sees only well-formed params; otherwise it would pile
	// "argv is required" on top of "argv: expected a list".
	if val, ok := params.(Validator); ok && len(c.list) == before {
		for _, fe := range val.Validate() {
			p := d.fieldPos(fe.Field, c.pos(kindKey))
			if fe.Field == "" {
				c.at(p, "%s: %s", kind, fe.Msg)
			} else {
				c.at(p, "%s: %s", fe.Field, fe.Msg)
			}
		}
	}
	return params, d.strs
}

// fieldPos finds the closest recorded key for a FieldError path.
func (d *decoder) fieldPos(field string, def Pos) Pos {
	p := strings.NewReplacer("[", ".", "]", "").Replace(field)
	for p != "" {
		if pos, ok := d.keys[p]; ok {
			return pos
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return def
}

func join(path, elem string) string {
	if path == "" {
		return elem
	}
	return path + "." + elem
}

// where names a mapping for "unknown field X in exec.outputs.rev".
func (d *decoder) where(path string) string {
	if path == "" {
		return d.kind
	}
	return d.kind + "." + path
}

// name prefixes value errors; the kind is implied by the position.
func (d *decoder) name(path string) string {
	if path == "" {
		return d.kind
	}
	return path
}

func (d *decoder) typeErr(n *yaml.Node, t reflect.Type, path string) {
	d.errorf(n, "%s: expected %s, got %s", d.name(path), describeType(t), describeNode(n))
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	t := v.Type()
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			d.typeErr(n, t, path)
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.errorf(n, "%s: %v", d.name(path), err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		e := reflect.New(t.Elem())
		d.decode(n, e.Elem(), path)
		v.Set(e)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.typeErr(n, t, path)
			return
		}
		v.SetString(n.Value)
		d.strs = append(d.strs, strNode{n.Value, d.pos(n)})
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.typeErr(n, t, path)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.typeErr(n, t, path)
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, "%s: %s is out of range", d.name(path), n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil || v.OverflowUint(u) {
			d.typeErr(n, t, path)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!float" && tag != "!!int") || n.Decode(&f) != nil {
			d.typeErr(n, t, path)
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.typeErr(n, t, path)
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			p := join(path, strconv.Itoa(i))
			d.keys[p] = d.pos(c)
			d.decode(c, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.unsupported(n, t, path)
			return
		}
		if n.Kind != yaml.MappingNode {
			d.typeErr(n, t, path)
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for _, kv := range d.pairs(n, d.where(path)) {
			p := join(path, kv.key.Value)
			d.keys[p] = d.pos(kv.key)
			e := reflect.New(t.Elem()).Elem()
			d.decode(kv.val, e, p)
			m.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(t.Key()), e)
		}
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.typeErr(n, t, path)
			return
		}
		fields := fieldsOf(t)
		for _, kv := range d.pairs(n, d.where(path)) {
			f, ok := fields.byName[kv.key.Value]
			if !ok {
				d.errorf(kv.key, "unknown field %s in %s; allowed: %s",
					kv.key.Value, d.where(path), strings.Join(fields.names, ", "))
				continue
			}
			p := join(path, kv.key.Value)
			d.keys[p] = d.pos(kv.key)
			d.decode(kv.val, v.FieldByIndex(f), p)
		}
	default:
		d.unsupported(n, t, path)
	}
}

func (d *decoder) unsupported(n *yaml.Node, t reflect.Type, path string) {
	d.errorf(n, "%s: field type %s is not supported by the loader (a bug in the kind)", d.name(path), t)
}

// structFields maps yaml keys to field indexes, following yaml.v3's rules:
// the tag name, else the lowercased field name; "-" skips; ",inline" merges
// an embedded struct's fields.
type structFields struct {
	byName map[string][]int
	names  []string // declaration order, for "allowed:" messages
}

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{byName: map[string][]int{}}
	addFields(sf, t, nil)
	fieldCache.Store(t, sf)
	return sf
}

func addFields(sf *structFields, t reflect.Type, prefix []int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		// Render skips unexported fields, so decoding must too.
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		if contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			addFields(sf, f.Type, idx)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := sf.byName[name]; dup {
			continue
		}
		sf.byName[name] = idx
		sf.names = append(sf.names, name)
	}
}

func describeType(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of " + plural(t.Elem())
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "a mapping of strings"
		}
		return "a mapping"
	}
	return "a mapping"
}

func plural(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return "durations"
	}
	switch t.Kind() {
	case reflect.String:
		return "strings"
	case reflect.Bool:
		return "bools"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integers"
	case reflect.Float32, reflect.Float64:
		return "numbers"
	case reflect.Slice:
		return "lists"
	}
	return "mappings"
}

// parseDuration wraps time.ParseDuration with a message that shows the value
// and an example, instead of Go's bare `time: missing unit in duration "10"`.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, &durationError{s}
	}
	return d, nil
}

type durationError struct{ s string }

func (e *durationError) Error() string {
	return "bad duration " + strconv.Quote(e.s) + " (use a number with a unit, e.g. 30s, 5m, 1h30m)"
}
