package kube

import (
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/playbooks"
)

func fieldErrs(errs []playbooks.FieldError) []string {
	var out []string
	for _, fe := range errs {
		out = append(out, fe.Field+": "+fe.Msg)
	}
	return out
}

// checkErrs asserts that got holds exactly the wanted errors, in order,
// each matched by a "field: substring" prefix.
func checkErrs(t *testing.T, got []playbooks.FieldError, want ...string) {
	t.Helper()
	msgs := fieldErrs(got)
	if len(msgs) != len(want) {
		t.Fatalf("errors = %q, want %d like %q", msgs, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(msgs[i], w) {
			t.Errorf("error %d = %q, want it to contain %q", i, msgs[i], w)
		}
	}
}

func TestSelectionValidate(t *testing.T) {
	cases := []struct {
		name string
		s    Selection
		want []string
	}{
		{"names", Selection{Names: []string{"web", "${item}"}, Namespace: "app"}, nil},
		{"all", Selection{All: true, Namespace: "${params.ns}", AllowEmpty: true}, nil},
		{"selector", Selection{Selector: "app in (web, api)", Namespace: "app"}, nil},
		{"none", Selection{Namespace: "app"}, []string{": set one of names, all: true or selector"}},
		{"two", Selection{Names: []string{"a"}, All: true, Namespace: "app"}, []string{"all: set exactly one of names, all and selector, not names and all"}},
		{"empty names", Selection{Names: []string{}, Namespace: "app"}, []string{"names: must list at least one name"}},
		{"bad name", Selection{Names: []string{"ok", "Bad_Name"}, Namespace: "app"}, []string{"names.1: invalid name"}},
		{"blank name", Selection{Names: []string{" "}, Namespace: "app"}, []string{"names.0: must not be empty"}},
		{"bad selector", Selection{Selector: "a b", Namespace: "app"}, []string{"selector: invalid label selector"}},
		{"no namespace", Selection{All: true}, []string{"namespace: is required"}},
		{"bad namespace", Selection{All: true, Namespace: "a.b"}, []string{"namespace: invalid namespace"}},
		{"allowEmpty with names", Selection{Names: []string{"a"}, Namespace: "app", AllowEmpty: true}, []string{"allowEmpty: applies only to all and selector"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkErrs(t, c.s.validate(), c.want...) })
	}
}

func TestSelectionDescribe(t *testing.T) {
	for _, c := range []struct {
		s    Selection
		want string
	}{
		{Selection{Names: []string{"a", "b"}, Namespace: "app"}, "deployments a, b in namespace app"},
		{Selection{Selector: "app=web", Namespace: "app"}, "deployments in namespace app matching app=web"},
		{Selection{All: true, Namespace: "app"}, "all deployments in namespace app"},
	} {
		if got := c.s.describe(deploymentMapping); got != c.want {
			t.Errorf("describe(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
	if got := objRef(Mapping{Kind: "Namespace"}, "", "istio-system"); got != "namespace istio-system" {
		t.Errorf("objRef cluster-scoped = %q", got)
	}
	if got := objRef(deploymentMapping, "app-1", "web"); got != "deployment app-1/web" {
		t.Errorf("objRef namespaced = %q", got)
	}
}
