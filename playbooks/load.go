package playbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied to steps that do not set the key.
const (
	DefaultMaxParallel    = 1
	DefaultAttempts       = 1
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 30 * time.Second
)

var typeNames = map[ParamType]string{
	TypeString:   "a string",
	TypeInt:      "an integer",
	TypeBool:     "true or false",
	TypeList:     "a list",
	TypeDuration: "a duration such as 30s",
}

var paramKeys = []string{"type", "description", "required", "default", "secret", "enum", "pattern"}

// LoadFile reads and loads the playbook at path.
func LoadFile(path string, kinds KindRegistry) (*Playbook, error) {
	src, err := ReadInput(path)
	if err != nil {
		return nil, err
	}
	return Load(path, src, kinds)
}

// Load parses and validates a playbook. file names the source in error
// positions. On failure it returns Errors with every problem found, sorted
// by position.
func Load(file string, src []byte, kinds KindRegistry) (*Playbook, error) {
	sum := sha256.Sum256(src)
	if kinds == nil {
		kinds = noKinds{}
	}
	l := &loader{
		errs:  &errs{file: file},
		kinds: kinds,
		pb: &Playbook{
			File:   file,
			Source: append([]byte(nil), src...),
			Digest: hex.EncodeToString(sum[:]),
		},
		params: map[string]*Param{},
		steps:  map[string]*stepInfo{},
	}
	root, ok := l.parseYAML(src)
	if ok && (root == nil || isNull(root)) {
		l.at(Pos{File: file}, "file is empty; a playbook needs apiVersion, kind, metadata and steps")
	} else if ok {
		l.playbook(root)
	}
	if err := l.list.errOrNil(); err != nil {
		return nil, err
	}
	l.pb.Warnings = l.warnings
	return l.pb, nil
}

type loader struct {
	*errs
	kinds  KindRegistry
	pb     *Playbook
	params map[string]*Param
	steps  map[string]*stepInfo
	// stepIndex is each step node's flat index in document order.
	stepIndex map[*yaml.Node]int
}

func (l *loader) playbook(root *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "expected a mapping with apiVersion, kind, metadata and steps, got %s", describeNode(root))
		return
	}
	top := l.strict(root, "the playbook", "apiVersion", "kind", "metadata", "params", "steps")
	for _, key := range []string{"apiVersion", "kind", "metadata", "steps"} {
		if _, ok := top[key]; !ok {
			l.errorf(root, "missing %s", key)
		}
	}
	if p, ok := top["apiVersion"]; ok {
		if s, ok := l.scalarString(p.val, "apiVersion"); ok && s != APIVersion {
			l.errorf(p.val, "apiVersion must be %s, got %q", APIVersion, s)
		}
	}
	if p, ok := top["kind"]; ok {
		if s, ok := l.scalarString(p.val, "kind"); ok && s != Kind {
			l.errorf(p.val, "kind must be %s, got %q", Kind, s)
		}
	}
	if p, ok := top["metadata"]; ok {
		l.metadata(p.val)
	}
	if p, ok := top["params"]; ok && !isNull(p.val) {
		if p.val.Kind != yaml.MappingNode {
			l.errorf(p.val, "params: expected a mapping of parameter names to declarations, got %s", describeNode(p.val))
		} else {
			for _, kv := range l.pairs(p.val, "params") {
				l.param(kv.key, kv.val)
			}
		}
	}
	if p, ok := top["steps"]; ok {
		l.stepList(p.val)
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]+$`)

func (l *loader) metadata(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "metadata: expected a mapping, got %s", describeNode(n))
		return
	}
	m := l.strict(n, "metadata", "name", "description")
	if p, ok := m["name"]; !ok {
		l.errorf(n, "metadata: missing name")
	} else if s, ok := l.scalarString(p.val, "metadata.name"); ok {
		if !nameRE.MatchString(s) {
			l.errorf(p.val, "metadata.name %q must match %s", s, nameRE)
		}
		l.pb.Name = s
	}
	if p, ok := m["description"]; ok {
		l.pb.Description, _ = l.scalarString(p.val, "metadata.description")
	}
}

func (l *loader) param(key, n *yaml.Node) {
	name := key.Value
	if !paramNameRE.MatchString(name) {
		l.errorf(key, "bad parameter name %q: use letters, digits, _ and -, starting with a letter", name)
	}
	p := &Param{Name: name, Pos: l.pos(key)}
	// Registered even when malformed, so references to it do not pile up
	// as "undefined parameter" on top of the real error.
	if _, dup := l.params[name]; !dup {
		l.params[name] = p
		l.pb.Params = append(l.pb.Params, p)
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "params.%s: expected a mapping with at least type, got %s", name, describeNode(n))
		return
	}
	where := "params." + name
	m := l.strict(n, where, paramKeys...)
	tp, ok := m["type"]
	if !ok {
		l.errorf(key, "%s: missing type (one of string, int, bool, list, duration)", where)
		return
	}
	if s, ok := l.scalarString(tp.val, where+".type"); ok {
		switch t := ParamType(s); t {
		case TypeString, TypeInt, TypeBool, TypeList, TypeDuration:
			p.Type = t
		default:
			l.errorf(tp.val, "%s.type: unknown type %q; use string, int, bool, list or duration", where, s)
			return
		}
	}
	if v, ok := m["description"]; ok {
		p.Description, _ = l.scalarString(v.val, where+".description")
	}
	if v, ok := m["required"]; ok {
		p.Required = l.boolean(v.val, where+".required")
	}
	if v, ok := m["secret"]; ok {
		p.Secret = l.boolean(v.val, where+".secret")
	}
	stringy := p.Type == TypeString || p.Type == TypeList
	if v, ok := m["enum"]; ok {
		if !stringy {
			l.errorf(v.key, "%s.enum: only string and list parameters take an enum, not %s", where, p.Type)
		} else if v.val.Kind != yaml.SequenceNode {
			l.errorf(v.val, "%s.enum: expected a list of strings, got %s", where, describeNode(v.val))
		} else if len(v.val.Content) == 0 {
			l.errorf(v.val, "%s.enum: must not be empty", where)
		} else {
			for _, e := range v.val.Content {
				if s, ok := l.scalarString(e, where+".enum"); ok {
					p.Enum = append(p.Enum, s)
				}
			}
		}
	}
	if v, ok := m["pattern"]; ok {
		if !stringy {
			l.errorf(v.key, "%s.pattern: only string and list parameters take a pattern, not %s", where, p.Type)
		} else if s, ok := l.scalarString(v.val, where+".pattern"); ok {
			re, err := regexp.Compile(s)
			if err != nil {
				l.errorf(v.val, "%s.pattern: bad regular expression: %s", where, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
			p.Pattern = re
		}
	}
	if v, ok := m["default"]; ok {
		if p.Secret {
			l.errorf(v.key, "%s: a secret parameter cannot have a default: the playbook text is kept in the journal and shown, so the default would not be secret; remove it and pass the value with --param-from-env %s=VAR, --param-from-file %s=FILE or -p %s=VALUE", where, name, name, name)
		}
		if p.Required {
			l.errorf(v.key, "%s: a required parameter cannot have a default (a default means it is never missing)", where)
		}
		p.Default = l.defaultValue(p, v.val)
	}
}

func (l *loader) boolean(n *yaml.Node, what string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		l.errorf(n, "%s: expected true or false, got %s", what, describeNode(n))
	}
	return b
}

// defaultValue converts a default node to p's type and checks it against
// enum and pattern; nil means none (or an error was recorded).
func (l *loader) defaultValue(p *Param, n *yaml.Node) any {
	where := "params." + p.Name + ".default"
	if isNull(n) || p.Type == "" {
		return nil
	}
	var v any
	switch p.Type {
	case TypeString:
		if n.Kind == yaml.ScalarNode {
			v = n.Value
		}
	case TypeInt:
		var i int64
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Decode(&i) == nil {
			v = i
		}
	case TypeBool:
		var b bool
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" && n.Decode(&b) == nil {
			v = b
		}
	case TypeDuration:
		if n.Kind == yaml.ScalarNode {
			d, err := parseDuration(n.Value)
			if err != nil {
				l.errorf(n, "%s: %v", where, err)
				return nil
			}
			v = d
		}
	case TypeList:
		if n.Kind == yaml.SequenceNode {
			list := []string{}
			for _, e := range n.Content {
				if s, ok := l.scalarString(e, where); ok {
					list = append(list, s)
				}
			}
			v = list
		}
	}
	if v == nil {
		l.errorf(n, "%s: expected %s, got %s", where, typeNames[p.Type], describeNode(n))
		return nil
	}
	if err := p.check(v); err != nil {
		l.errorf(n, "%s: %v", where, err)
		return nil
	}
	return v
}

type noKinds struct{}

func (noKinds) Kind(string) (KindSpec, bool)   { return nil, false }
func (noKinds) Source(string) (KindSpec, bool) { return nil, false }
