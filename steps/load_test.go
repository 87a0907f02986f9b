package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
)

// The loader decodes params by reflection; these tests catch a params field
// of a type it cannot decode, or a yaml key spelt differently from the docs.

const loadHeader = "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: t}\nparams:\n  x: {type: string, default: v}\nsteps:\n"

func TestLoadEveryField(t *testing.T) {
	src := loadHeader + `
  - id: ver
    exec:
      argv: [/usr/bin/env, "${params.x}"]
      env: {A: "${params.x}"}
      dir: /tmp
      timeout: 5m
      expectExitCodes: [0, 3]
      expect: 'ok'
      outputs:
        rev: {regex: 'rev=(\S+)'}
        version: {json: 'clientVersion.version'}
      tailBytes: 100
  - id: same
    assert: {that: "${steps.ver.version}", in: ["a", ""], message: m}
  - id: approve
    gate: {message: "look at ${steps.ver.rev}"}
`
	pb, err := playbooks.Load("t.yaml", []byte(src), NewRegistry(Deps{}))
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Steps[0].Params.(*ExecParams)
	if p.Timeout != 5*time.Minute || p.TailBytes != 100 || p.OutputSpecs["version"].JSON != "clientVersion.version" || len(p.ExpectExitCodes) != 2 {
		t.Errorf("exec params = %+v", p)
	}
	if a := pb.Steps[1].Params.(*AssertParams); a.op != "in" {
		t.Errorf("assert op = %q, want in", a.op)
	}
}

func TestLoadReportsFieldErrors(t *testing.T) {
	src := loadHeader + `
  - id: bad
    exec:
      argv: [/bin/true]
      outputs:
        rev: {regex: 'rev=(\S+'}
  - id: two
    assert: {that: x, equals: a, notEmpty: true}
`
	_, err := playbooks.Load("t.yaml", []byte(src), NewRegistry(Deps{}))
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{"outputs.rev.regex: invalid regex", "notEmpty: set exactly one comparison"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}
