package playbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const header = "apiVersion: cairn/v1\nkind: Playbook\nmetadata:\n  name: t\n"

func mustLoad(t *testing.T, src string) *Playbook {
	t.Helper()
	pb, err := Load("t.yaml", []byte(src), testRegistry{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return pb
}

func TestLoadParsesSteps(t *testing.T) {
	src := header + `params:
  zeta: {type: string, default: z}
  alpha: {type: list, default: [a, b], enum: [a, b, c]}
  beta: {type: int, default: 3}
  gamma: {type: bool, default: true}
  delta: {type: duration, default: 90s, description: settle time}
  rev: {type: string, required: true, pattern: '^asm-', secret: true}
steps:
  - id: one
    description: first
    exec:
      argv: [echo, "${params.zeta}"]
      outputs: {rev: {regex: '(.*)'}}
  - id: two
    foreach: "${params.alpha}"
    maxParallel: 3
    when: "${item} != 'b'"
    retry: {attempts: 4, initialBackoff: 2s, maxBackoff: 1m}
    timeout: 10m
    exec: {argv: [echo, "${item}", "${steps.one.rev}"]}
    check: {assert: {that: "${item}", equals: x}}
    undo: {gate: {message: undo}}
  - id: three
    foreach: {list.static: {items: [p, q]}}
    gate: {message: "${item}"}
  - id: four
    foreach: [a, "${params.zeta}", 7]
    gate: {message: m}
`
	pb := mustLoad(t, src)
	if pb.Name != "t" || pb.File != "t.yaml" || string(pb.Source) != src {
		t.Errorf("header: %q %q", pb.Name, pb.File)
	}
	sum := sha256.Sum256([]byte(src))
	if pb.Digest != hex.EncodeToString(sum[:]) {
		t.Errorf("Digest = %s", pb.Digest)
	}
	var names []string
	for _, p := range pb.Params {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "zeta,alpha,beta,gamma,delta,rev" {
		t.Errorf("param order = %s", got)
	}
	wantDefaults := []any{"z", []string{"a", "b"}, int64(3), true, 90 * time.Second, nil}
	for i, p := range pb.Params {
		if !reflect.DeepEqual(p.Default, wantDefaults[i]) {
			t.Errorf("%s default = %#v, want %#v", p.Name, p.Default, wantDefaults[i])
		}
	}
	if !pb.Params[5].Secret || pb.Params[3].Secret || !pb.Params[5].Required || pb.Params[5].Pattern.String() != "^asm-" ||
		pb.Params[4].Description != "settle time" || len(pb.Params[1].Enum) != 3 {
		t.Errorf("param flags not parsed: %+v", pb.Params)
	}

	one, two, three, four := pb.Steps[0], pb.Steps[1], pb.Steps[2], pb.Steps[3]
	if one.MaxParallel != 1 || one.Retry != (Retry{1, time.Second, 30 * time.Second}) || one.Timeout != 0 ||
		one.When != nil || one.Foreach != nil || one.Check != nil || one.Undo != nil {
		t.Errorf("defaults not applied: %+v", one)
	}
	if one.Kind != "exec" || one.Description != "first" || one.Pos != (Pos{"t.yaml", 13, 5}) || one.Action.Pos != (Pos{"t.yaml", 15, 5}) {
		t.Errorf("step one = %+v", one)
	}
	if ep := one.Params.(*execParams); !reflect.DeepEqual(ep.Argv, []string{"echo", "${params.zeta}"}) || ep.Extract["rev"].Regex != "(.*)" {
		t.Errorf("exec params = %+v", ep)
	}
	if two.Foreach.Param != "alpha" || two.MaxParallel != 3 || two.Timeout != 10*time.Minute ||
		two.Retry != (Retry{4, 2 * time.Second, time.Minute}) || two.When.Source != "${item} != 'b'" {
		t.Errorf("step two = %+v", two)
	}
	if two.Check.Kind != "assert" || two.Check.Params.(*assertParams).That != "${item}" || two.Undo.Kind != "gate" {
		t.Errorf("check/undo = %+v %+v", two.Check, two.Undo)
	}
	if s := three.Foreach.Source; s == nil || s.Kind != "list.static" || !reflect.DeepEqual(s.Params.(*staticSource).Items, []string{"p", "q"}) {
		t.Errorf("source = %+v", three.Foreach)
	}
	if !reflect.DeepEqual(four.Foreach.Items, []string{"a", "${params.zeta}", "7"}) {
		t.Errorf("items = %q", four.Foreach.Items)
	}
}

// TestLoadErrors checks single problems and their exact positions.
func TestLoadErrors(t *testing.T) {
	step := func(s string) string { return header + "steps:\n" + s }
	cases := []struct{ name, src, want string }{
		{"argv scalar", step("  - id: a\n    exec: {argv: kubectl}\n"),
			"t.yaml:7:18: argv: expected a list of strings, got a string"},
		{"env value list", step("  - id: a\n    exec:\n      argv: [x]\n      env: {A: [1]}\n"),
			"t.yaml:9:16: env.A: expected a string, got a list"},
		{"int out of range", step("  - id: a\n    types: {small: 300}\n"),
			"t.yaml:7:20: small: 300 is out of range"},
		{"float for int", step("  - id: a\n    types: {int: 1.5}\n"),
			"t.yaml:7:18: int: expected an integer, got a number"},
		{"quoted bool", step("  - id: a\n    types: {flag: \"true\"}\n"),
			"t.yaml:7:19: flag: expected true or false, got a string"},
		{"bad duration in kind", step("  - id: a\n    types: {dur: 5}\n"),
			`t.yaml:7:18: dur: bad duration "5" (use a number with a unit, e.g. 30s, 5m, 1h30m)`},
		{"list of structs", step("  - id: a\n    types: {inners: [{name: a, prot: 1}]}\n"),
			"t.yaml:7:32: unknown field prot in types.inners.0; allowed: name, port"},
		{"ptr struct", step("  - id: a\n    types: {innerPtr: {nme: a}}\n"),
			"t.yaml:7:24: unknown field nme in types.innerPtr; allowed: name, port"},
		{"skipped field", step("  - id: a\n    types: {skipped: x}\n"),
			"t.yaml:7:13: unknown field skipped in types; allowed: label, str, flag, int, int64, small, float, dur, strs, ints, inners, strMap, innerMap, inner, innerPtr, untagged"},
		{"not a list", header + "steps: {id: a}\n", "t.yaml:5:8: steps: expected a list of steps, got a mapping"},
		{"step scalar", step("  - exec\n"), "t.yaml:6:5: steps[0]: expected a mapping, got a string"},
		{"params list", header + "params: [a]\nsteps: [{id: a, gate: {}}]\n",
			"t.yaml:5:9: params: expected a mapping of parameter names to declarations, got a list"},
		{"undo own output ok, check not", step("  - id: a\n    exec: {argv: [x], outputs: {o: {json: .a}}}\n    check: {gate: {message: \"${steps.a.o}\"}}\n    undo: {gate: {message: \"${steps.a.o}\"}}\n"),
			"t.yaml:8:29: ${steps.a.o}: a step cannot use its own outputs (only its undo can)"},
		{"unknown kind outputs not doubted", step("  - id: a\n    nope: {}\n  - id: b\n    gate: {message: \"${steps.a.x}\"}\n"),
			"t.yaml:7:5: unknown step kind nope (kinds: assert, exec, gate, types; step keys: id, description, foreach, maxParallel, when, retry, timeout, check, undo, undoFailed, irreversible)"},
		{"undoFailed without undo", step("  - id: a\n    gate: {}\n    undoFailed: true\n"),
			"t.yaml:8:5: undoFailed needs an undo to run"},
		{"undoFailed not a bool", step("  - id: a\n    gate: {}\n    undoFailed: yes please\n    undo: {gate: {}}\n"),
			"t.yaml:8:17: undoFailed: expected true or false, got a string"},
		{"undoFailed undo without own outputs", step("  - id: a\n    exec: {argv: [x], outputs: {o: {json: .a}}}\n    undoFailed: true\n    undo: {gate: {message: \"${steps.a.o}\"}}\n"),
			"t.yaml:9:28: ${steps.a.o}: with undoFailed the undo also runs for a failed instance, which has no outputs; do without them"},
		{"tab syntax", "apiVersion: cairn/v1\n\tkind: x\n", "t.yaml:2:1: invalid YAML: found a tab character that violates indentation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("t.yaml", []byte(c.src), testRegistry{})
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != c.want {
				t.Errorf("got\n%v\nwant\n%s", err, c.want)
			}
		})
	}
}

// TestUnknownKindFieldRejected proves the loader avoids the yaml.v3 trap:
// decoding a Node (or below a custom UnmarshalYAML) ignores unknown keys
// even when the top-level decoder has KnownFields(true).
func TestUnknownKindFieldRejected(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("argv: [x]\nargvs: [y]\n"), &n); err != nil {
		t.Fatal(err)
	}
	var lax execParams
	if err := n.Content[0].Decode(&lax); err != nil {
		t.Fatalf("premise changed: node.Decode now rejects unknown keys: %v", err)
	}

	for _, c := range []struct{ where, src, want string }{
		{"step", "  - id: a\n    exec:\n      argv: [x]\n      argvs: [y]\n", "t.yaml:9:7: unknown field argvs in exec"},
		{"nested", "  - id: a\n    exec:\n      argv: [x]\n      outputs: {v: {regex: x, regexp: y}}\n", "t.yaml:9:31: unknown field regexp in exec.outputs.v"},
		{"map of structs", "  - id: a\n    types: {innerMap: {k: {port: 1, host: h}}}\n", "t.yaml:7:37: unknown field host in types.innerMap.k"},
		{"check", "  - id: a\n    gate: {}\n    check: {exec: {argv: [x], shell: true}}\n", "t.yaml:8:31: unknown field shell in exec"},
		{"undo", "  - id: a\n    gate: {}\n    undo: {gate: {mesage: x}}\n", "t.yaml:8:19: unknown field mesage in gate"},
		{"source", "  - id: a\n    foreach: {list.static: {item: [a]}}\n    gate: {}\n", "t.yaml:7:29: unknown field item in list.static"},
	} {
		_, err := Load("t.yaml", []byte(header+"steps:\n"+c.src), testRegistry{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want prefix %q", c.where, err, c.want)
		}
	}
}

func TestLoadCollectsAllErrorsSorted(t *testing.T) {
	src := header + `steps:
  - id: b
    gate: {message: "${params.x}"}
    bogus: 1
  - id: b
    exec: {argv: [x], nope: 2}
`
	_, err := Load("t.yaml", []byte(src), testRegistry{})
	var es Errors
	if !errors.As(err, &es) || len(es) != 4 {
		t.Fatalf("want 4 errors, got %v", err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Pos.Line < es[i-1].Pos.Line {
			t.Errorf("not sorted: %v", err)
		}
	}
}

func TestLoadNilRegistry(t *testing.T) {
	_, err := Load("t.yaml", []byte(header+"steps: [{id: a, exec: {}}]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "unknown step kind exec") {
		t.Errorf("got %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	pb, err := LoadFile(testdataDir+"/valid/minimal.yaml", testRegistry{})
	if err != nil || pb.File != testdataDir+"/valid/minimal.yaml" {
		t.Fatalf("LoadFile: %v", err)
	}
	if _, err := LoadFile(testdataDir+"/nope.yaml", testRegistry{}); err == nil {
		t.Error("missing file loaded")
	}
}

func TestLoadDocumentMarkers(t *testing.T) {
	body := header + "steps: [{id: a, gate: {}}]\n"
	for _, src := range []string{"---\n" + body, body + "...\n", body + "---\n", body + "---\n# trailing comment\n"} {
		if _, err := Load("t.yaml", []byte(src), testRegistry{}); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
	_, err := Load("t.yaml", []byte(body+"---\n---\nfoo: 1\n"), testRegistry{})
	if err == nil || err.Error() != "t.yaml:7:1: a second YAML document starts here; the file must hold exactly one" {
		t.Errorf("got %v", err)
	}
}

func TestKindsAndClusterRefs(t *testing.T) {
	pb := mustLoad(t, header+`steps:
  - id: a
    foreach: {list.static: {}}
    exec: {argv: [istioctl, "--kubeconfig", "${cluster.kubeconfig}"]}
    check: {assert: {that: x}}
    undo: {gate: {}}
  - id: b
    exec: {argv: [echo]}
`)
	if got := pb.Kinds(); !reflect.DeepEqual(got, []string{"exec", "assert", "gate", "list.static"}) {
		t.Errorf("Kinds() = %v", got)
	}
	if !pb.ClusterRefs {
		t.Error("ClusterRefs not set for a playbook using ${cluster.kubeconfig}")
	}
	if mustLoad(t, header+"steps:\n  - id: a\n    exec: {argv: [echo]}\n").ClusterRefs {
		t.Error("ClusterRefs set for a playbook without cluster references")
	}
}
