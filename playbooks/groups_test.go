package playbooks

import "testing"

func TestLoadGroup(t *testing.T) {
	pb := mustLoad(t, header+`params:
  namespaces: {type: list, default: [a, b]}
steps:
  - id: first
    exec: {argv: [echo], outputs: {rev: {regex: '(.*)'}}}
  - id: move
    description: each namespace
    foreach: "${params.namespaces}"
    maxParallel: 2
    when: "${item} != ${steps.first.rev}"
    steps:
      - id: relabel
        exec: {argv: [echo, "${item}", "${steps.first.rev}"], outputs: {prev: {regex: '(.*)'}}}
        undo: {exec: {argv: [echo, "${steps.relabel.prev}"]}}
      - id: restart
        when: "${steps.relabel.prev} != x"
        retry: {attempts: 3}
        exec: {argv: [echo, "${item}", "${steps.relabel.prev}"]}
  - id: after
    foreach: "${params.namespaces}"
    exec: {argv: [echo, "${steps.relabel.prev}"]}
`)
	ids := []string{}
	for _, s := range pb.Steps {
		ids = append(ids, s.ID)
	}
	if len(pb.Steps) != 4 || ids[1] != "relabel" || ids[2] != "restart" {
		t.Fatalf("steps %v, want first, relabel, restart, after", ids)
	}
	g := pb.Steps[1].Group
	if g == nil || g.ID != "move" || g.Description != "each namespace" || g.MaxParallel != 2 ||
		g.When == nil || g.Foreach == nil || g.Foreach.Param != "namespaces" || len(g.Steps) != 2 || pb.Steps[2].Group != g {
		t.Fatalf("group %+v", g)
	}
	for _, s := range g.Steps {
		if s.Foreach != g.Foreach || s.MaxParallel != 2 || s.ItemsID() != "move" {
			t.Fatalf("grouped step %s: foreach %v, maxParallel %d, items under %s", s.ID, s.Foreach, s.MaxParallel, s.ItemsID())
		}
	}
	if pb.Steps[2].Retry.Attempts != 3 || pb.Steps[2].When == nil || pb.Steps[1].Undo == nil {
		t.Fatal("a grouped step's own keys were lost")
	}
	if pb.Steps[0].Group != nil || pb.Steps[3].Group != nil || pb.Steps[3].ItemsID() != "after" {
		t.Fatal("top-level steps are not in a group")
	}
}
