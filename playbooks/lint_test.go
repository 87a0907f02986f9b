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

// A retry on an exec step without retryOn or a timeout can never happen:
// validate says so at the retry's position.
func TestDeadRetryWarns(t *testing.T) {
	pb := mustLoad(t, `apiVersion: cairn/v1
kind: Playbook
metadata: {name: t}
steps:
  - id: dead
    retry: {attempts: 3}
    exec: {argv: [echo, a]}
  - id: retry-on
    retry: {attempts: 3}
    exec: {argv: [echo, b], retryOn: [1]}
  - id: exec-timeout
    retry: {attempts: 3}
    exec: {argv: [echo, c], timeout: 1m}
  - id: step-timeout
    retry: {attempts: 3}
    timeout: 1m
    exec: {argv: [echo, d]}
  - id: once
    retry: {attempts: 1}
    exec: {argv: [echo, e]}
`)
	if len(pb.Warnings) != 1 || !strings.HasPrefix(pb.Warnings[0].Error(), "t.yaml:6:12: retry has no effect") {
		t.Errorf("warnings: %v, want one at t.yaml:6:12 about the dead retry", pb.Warnings)
	}
}
