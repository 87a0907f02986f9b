package playbooks

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParamsTemplate is a params file for pb to fill in (cairn run NAME
// --params-file FILE): each parameter under a comment that describes it.
// Required ones without a default are left empty, so the file is refused
// until they are filled; optional ones are commented out at their default;
// secret ones are commented out, since a secret belongs in the
// environment or a file of its own, not beside the others.
func ParamsTemplate(pb *Playbook, origin string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Parameters of playbook %s (%s).\n", pb.Name, origin)
	fmt.Fprintf(&b, "# Fill in the empty ones; uncomment an optional one to change it.\n")
	fmt.Fprintf(&b, "#   cairn run %s --params-file FILE\n", pb.Name)
	if len(pb.Params) == 0 {
		b.WriteString("# The playbook has no parameters.\n")
	}
	for _, p := range pb.Params {
		b.WriteString("\n")
		for _, line := range strings.Split(strings.TrimSpace(p.Description), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				fmt.Fprintf(&b, "# %s\n", line)
			}
		}
		fmt.Fprintf(&b, "# %s\n", paramAttributes(p))
		switch {
		case p.Secret:
			fmt.Fprintf(&b, "#   secret: pass it with --param-from-env %s=VAR or --param-from-file %s=FILE\n", p.Name, p.Name)
			fmt.Fprintf(&b, "# %s:\n", p.Name)
		case p.Default != nil:
			fmt.Fprintf(&b, "# %s: %s\n", p.Name, yamlValue(p.Default))
		case p.Required:
			fmt.Fprintf(&b, "%s:\n", p.Name)
		default:
			fmt.Fprintf(&b, "# %s:\n", p.Name)
		}
	}
	return b.Bytes()
}

func paramAttributes(p *Param) string {
	attrs := []string{strings.TrimPrefix(strings.TrimPrefix(typeNames[p.Type], "a "), "an ")}
	switch {
	case p.Required && p.Default == nil:
		attrs = append(attrs, "required")
	case p.Default != nil:
		attrs = append(attrs, "optional")
	default:
		attrs = append(attrs, "optional, empty if not set")
	}
	if len(p.Enum) > 0 {
		attrs = append(attrs, "one of "+strings.Join(p.Enum, ", "))
	}
	if p.Pattern != nil {
		attrs = append(attrs, "matching "+p.Pattern.String())
	}
	return strings.Join(attrs, "; ")
}

// yamlValue is v as a YAML flow value on one line.
func yamlValue(v any) string {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	_ = enc.Close()
	s := strings.TrimSpace(b.String())
	if strings.Contains(s, "\n") {
		if l, ok := v.([]string); ok {
			return "[" + strings.Join(l, ", ") + "]"
		}
	}
	return s
}
