package main

import (
	"fmt"
	"strconv"
	"strings"
)

// flag describes one option. names[0] is the canonical name used for lookups;
// names are given without dashes ("kubeconfig", "c").
type flag struct {
	names []string
	value bool // takes a value; otherwise boolean
}

func strFlag(names ...string) flag  { return flag{names: names, value: true} }
func boolFlag(names ...string) flag { return flag{names: names} }

// flags is a parsed command line.
type flags struct {
	vals map[string][]string // canonical name -> values (booleans: "true"/"false")
	args []string            // positional arguments
}

func (f *flags) str(name string) string {
	v := f.vals[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (f *flags) all(name string) []string { return f.vals[name] }

func (f *flags) has(name string) bool { return len(f.vals[name]) > 0 }

// boolean returns the flag's value, def when absent.
func (f *flags) boolean(name string, def bool) bool {
	v := f.str(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// parseOpts: underscoreDash lets a spec match both --enable_all and
// --enable-all, as asmcli and install_asm accept.
type parseOpts struct {
	underscoreDash bool
}

// parseFlags parses args against specs in the style of cobra/pflag:
// --name=value, --name value, -n value, -nvalue, -y, --bool=false, and "--".
// Flags may appear anywhere among positional arguments.
func parseFlags(args []string, specs []flag, o parseOpts) (*flags, error) {
	byName := map[string]flag{}
	canon := func(s string) string {
		if o.underscoreDash {
			return strings.ReplaceAll(s, "-", "_")
		}
		return s
	}
	for _, s := range specs {
		for _, n := range s.names {
			byName[canon(n)] = s
		}
	}
	out := &flags{vals: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out.args = append(out.args, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			out.args = append(out.args, a)
			continue
		}
		long := strings.HasPrefix(a, "--")
		body := strings.TrimLeft(a, "-")
		name, val, hasVal := strings.Cut(body, "=")
		if _, declared := byName[canon(name)]; !long && len(name) > 1 && !hasVal && !declared {
			// -ojson: a one-letter flag with its value attached.
			name, val, hasVal = name[:1], name[1:], true
		}
		s, ok := byName[canon(name)]
		if !ok {
			if long {
				return nil, fmt.Errorf("unknown flag: --%s", name)
			}
			return nil, fmt.Errorf("unknown shorthand flag: '%s' in %s", name[:1], a)
		}
		key := s.names[0]
		switch {
		case s.value && hasVal:
			out.vals[key] = append(out.vals[key], val)
		case s.value:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			out.vals[key] = append(out.vals[key], args[i])
		case hasVal:
			if _, err := strconv.ParseBool(val); err != nil {
				return nil, fmt.Errorf("invalid argument %q for %q flag: %v", val, a, err)
			}
			out.vals[key] = append(out.vals[key], val)
		default:
			out.vals[key] = append(out.vals[key], "true")
		}
	}
	return out, nil
}
