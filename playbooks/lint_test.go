package playbooks

import (
	"strings"
	"testing"
)

// A reference spliced into a shell script is a warning with its position
// (D18); the "$1" pattern, a literal $${...} and non-shell programs are not.
func TestShellSpliceWarns(t *testing.T) {
	pb := mustLoad(t, `apiVersion: cairn/v1
kind: Playbook
metadata: {name: t}
params:
  msg: {type: string, default: hi}
steps:
  - id: spliced
    exec: {argv: [/bin/sh, -c, "echo ${params.msg}"]}
  - id: errexit
    exec: {argv: [bash, -ec, "echo ${params.msg}"]}
  - id: argument
    exec: {argv: [sh, -c, 'echo "$1"', sh, "${params.msg}"]}
  - id: literal
    exec: {argv: [sh, -c, 'echo $${HOME}']}
  - id: not-a-shell
    exec: {argv: [echo, -c, "${params.msg}"]}
  - id: in-undo
    exec: {argv: [echo, ok]}
    undo:
      exec: {argv: [sh, -c, "rm -rf ${params.msg}"]}
`)
	var got []string
	for _, w := range pb.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		"t.yaml:8:32: ${params.msg} is spliced into the sh script",
		"t.yaml:10:30: ${params.msg} is spliced into the bash script",
		"t.yaml:20:29: ${params.msg} is spliced into the sh script",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) || !strings.Contains(got[i], `'... "$1" ...'`) {
			t.Errorf("warning %d = %q, want prefix %q and the \"$1\" pattern", i, got[i], want[i])
		}
	}
}
