package playbooks

import (
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// lint warns about a kind's params that are valid but likely wrong.
func (l *loader) lint(kind string, params *yaml.Node) {
	if kind == "exec" {
		l.lintShellSplice(params)
	}
}

// shells run their -c argument as code.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "ash": true}

// lintShellSplice warns when an exec argv hands a shell a script with a
// ${...} reference in it: the value becomes code, so a parameter such as
// `x; rm -rf ~ #` runs. Passing the value as an argument ("$1") keeps it
// data. A warning, not an error: the playbook's author may know the
// value's shape.
func (l *loader) lintShellSplice(exec *yaml.Node) {
	if exec.Kind != yaml.MappingNode {
		return
	}
	var argv *yaml.Node
	for i := 0; i+1 < len(exec.Content); i += 2 {
		if exec.Content[i].Value == "argv" {
			argv = exec.Content[i+1]
		}
	}
	if argv == nil || argv.Kind != yaml.SequenceNode || len(argv.Content) < 3 {
		return
	}
	a := argv.Content
	if a[0].Kind != yaml.ScalarNode || !shells[path.Base(a[0].Value)] ||
		a[1].Kind != yaml.ScalarNode || !strings.HasPrefix(a[1].Value, "-") || !strings.Contains(a[1].Value, "c") {
		return
	}
	segs, err := parseTemplate(a[2].Value)
	if err != nil {
		return // reported as an error already
	}
	for _, s := range segs {
		if s.ref != nil {
			l.warnf(a[2], "%s is spliced into the %s script, so its value runs as code (a value with ; or $(...) runs commands); pass it as an argument instead: argv: [%s, %s, '... \"$1\" ...', %s, %q]",
				s.ref.text, path.Base(a[0].Value), a[0].Value, a[1].Value, path.Base(a[0].Value), s.ref.text)
			return
		}
	}
}

// lintDeadRetry warns about a retry that cannot happen: an exec step's
// unexpected exit is permanent unless exec.retryOn lists it, so without
// retryOn or a timeout (a timed-out attempt is retried) the attempts past
// the first never run.
func (l *loader) lintDeadRetry(st *Step, retry, params *yaml.Node) {
	if st.Kind != "exec" || st.Retry.Attempts < 2 || st.Timeout > 0 || params.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(params.Content); i += 2 {
		if k := params.Content[i].Value; k == "retryOn" || k == "timeout" {
			return
		}
	}
	l.warnf(retry, "retry has no effect: an exec step's unexpected exit is permanent, so attempts past the first never run; list the exit codes worth retrying in exec.retryOn (e.g. retryOn: [1]), set a timeout (a timed-out attempt is retried), or drop retry")
}
