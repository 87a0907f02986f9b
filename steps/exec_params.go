package steps

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
)

const (
	defaultTailBytes = 4096
	maxTailBytes     = 1 << 20
	// maxStdoutBytes bounds what expect and outputs search, so that a runaway
	// tool cannot exhaust memory.
	maxStdoutBytes = 16 << 20
)

var outputNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ExecParams are the params of the exec kind. The json tags name the fields
// in the journal, which keeps each attempt's rendered params.
type ExecParams struct {
	// Argv is run directly, never through a shell, so that a rendered value
	// cannot inject commands.
	Argv            []string          `yaml:"argv" json:"argv"`
	Env             map[string]string `yaml:"env" json:"env,omitempty"`
	Dir             string            `yaml:"dir" json:"dir,omitempty"`
	Timeout         time.Duration     `yaml:"timeout" json:"timeout,omitempty"`
	ExpectExitCodes []int             `yaml:"expectExitCodes" json:"expectExitCodes,omitempty"`
	// RetryOn are exit codes that a retry may cure (a tool's "try again"
	// code, a lost connection): the step's retry applies to them. Any other
	// unexpected exit is permanent, since running the same program with the
	// same input again would fail the same way.
	RetryOn     []int                 `yaml:"retryOn" json:"retryOn,omitempty"`
	Expect      string                `yaml:"expect" json:"expect,omitempty"`
	OutputSpecs map[string]ExecOutput `yaml:"outputs" json:"outputs,omitempty"`
	TailBytes   int                   `yaml:"tailBytes" json:"tailBytes,omitempty"`
}

// ExecOutput extracts one output from stdout. Exactly one field is set.
type ExecOutput struct {
	// Regex yields its first capture group, or the whole match if it has none.
	Regex string `yaml:"regex" json:"regex,omitempty"`
	// JSON is a dot path into stdout parsed as JSON; list elements are
	// addressed by index, as in items.0.name.
	JSON string `yaml:"json" json:"json,omitempty"`
}

// Outputs returns the declared output names, sorted.
func (p *ExecParams) Outputs() []string {
	names := make([]string, 0, len(p.OutputSpecs))
	for n := range p.OutputSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks what can be checked before rendering. Strings holding a
// reference are checked again at run time, once their value is known.
func (p *ExecParams) Validate() []playbooks.FieldError {
	var errs []playbooks.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, playbooks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case len(p.Argv) == 0:
		add("argv", `is required: the program and its arguments, e.g. ["/usr/local/bin/istioctl", "version"]`)
	case strings.TrimSpace(p.Argv[0]) == "":
		add("argv.0", "must name the program to run")
	}
	for _, k := range sortedKeys(p.Env) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			add("env."+k, "invalid environment variable name %q", k)
		}
	}
	if p.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	for i, c := range p.ExpectExitCodes {
		if c < 0 || c > 255 {
			add("expectExitCodes."+strconv.Itoa(i), "exit code %d is out of range 0..255", c)
		}
	}
	for i, c := range p.RetryOn {
		switch {
		case slices.Contains(p.exitCodes(), c):
			add("retryOn."+strconv.Itoa(i), "exit code %d is expected (expectExitCodes %v), so it is never retried; remove it from one of the two", c, p.exitCodes())
		case c < 1 || c > 255:
			add("retryOn."+strconv.Itoa(i), "exit code %d is out of range 1..255", c)
		}
	}
	if msg := checkRegex(p.Expect); msg != "" {
		add("expect", "%s", msg)
	}
	for _, name := range p.Outputs() {
		o := p.OutputSpecs[name]
		field := "outputs." + name
		if !outputNameRE.MatchString(name) {
			add(field, "invalid output name %q: use letters, digits and _, not starting with a digit", name)
		}
		switch {
		case o.Regex != "" && o.JSON != "":
			add(field, "set exactly one of regex or json, not both")
		case o.Regex == "" && o.JSON == "":
			add(field, "set one of regex or json")
		case o.Regex != "":
			if msg := checkRegex(o.Regex); msg != "" {
				add(field+".regex", "%s", msg)
			}
		default:
			if msg := checkJSONPath(o.JSON); msg != "" {
				add(field+".json", "%s", msg)
			}
		}
	}
	if p.TailBytes < 0 || p.TailBytes > maxTailBytes {
		add("tailBytes", "must be between 1 and %d (default %d)", maxTailBytes, defaultTailBytes)
	}
	return errs
}

// checkRegex compiles re unless it holds a reference, whose value is not
// known before the run.
func checkRegex(re string) string {
	if re == "" || strings.Contains(re, "${") {
		return ""
	}
	if _, err := regexp.Compile(re); err != nil {
		return "invalid regex: " + err.Error()
	}
	return ""
}

func checkJSONPath(path string) string {
	if strings.Contains(path, "${") {
		return ""
	}
	for _, seg := range strings.Split(path, ".") {
		if seg == "" {
			return fmt.Sprintf("invalid path %q: empty segment (use keys separated by dots, e.g. items.0.name)", path)
		}
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compiledOutput is an output spec after rendering.
type compiledOutput struct {
	name string
	re   *regexp.Regexp
	path string
}

// compile checks the rendered params. Every problem here is permanent: the
// same params would fail the same way on a retry.
func (p *ExecParams) compile() (expect *regexp.Regexp, outs []compiledOutput, err error) {
	if len(p.Argv) == 0 || p.Argv[0] == "" {
		return nil, nil, fmt.Errorf("argv[0] is empty after rendering %q", p.Argv)
	}
	if p.Expect != "" {
		if expect, err = regexp.Compile(p.Expect); err != nil {
			return nil, nil, fmt.Errorf("expect: invalid regex: %w", err)
		}
	}
	for _, name := range p.Outputs() {
		o := p.OutputSpecs[name]
		c := compiledOutput{name: name, path: o.JSON}
		switch {
		case o.Regex != "":
			if c.re, err = regexp.Compile(o.Regex); err != nil {
				return nil, nil, fmt.Errorf("output %s: invalid regex: %w", name, err)
			}
		case o.JSON == "":
			return nil, nil, fmt.Errorf("output %s: regex or json is empty after rendering", name)
		default:
			if msg := checkJSONPath(o.JSON); msg != "" {
				return nil, nil, fmt.Errorf("output %s: %s", name, msg)
			}
		}
		outs = append(outs, c)
	}
	return expect, outs, nil
}

func (p *ExecParams) exitCodes() []int {
	if len(p.ExpectExitCodes) == 0 {
		return []int{0}
	}
	return p.ExpectExitCodes
}

func (p *ExecParams) tailBytes() int {
	if p.TailBytes <= 0 {
		return defaultTailBytes
	}
	return min(p.TailBytes, maxTailBytes)
}
