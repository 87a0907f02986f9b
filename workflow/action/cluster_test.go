package action

import (
	"testing"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps/cluster"
)

func TestNeedsClusterSeesKindsInUndoCheckSourcesAndClusterRefs(t *testing.T) {
	c := &Config{Cluster: &cluster.Access{}}
	const head = "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: x}\nsteps:\n  - id: a\n"
	for _, tc := range []struct {
		name string
		src  string
		want bool
	}{
		{"exec only", head + "    exec: {argv: [\"true\"]}\n", false},
		{"undo", head + "    exec: {argv: [\"true\"]}\n    undo:\n      kube.label: {kind: Namespace, name: default, remove: [x]}\n", true},
		{"check", head + "    exec: {argv: [\"true\"]}\n    check:\n      kube.check: {kind: Namespace, name: default}\n", true},
		{"source", head + "    foreach: {kube.namespaces: {selector: a=b}}\n    exec: {argv: [\"true\"]}\n", true},
		{"cluster ref", head + "    exec: {argv: [kubectl, \"--kubeconfig=${cluster.kubeconfig}\"]}\n", true},
	} {
		pb, err := playbooks.Load(tc.name+".yaml", []byte(tc.src), c.Registry())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.needsCluster(pb, nil); got != tc.want {
			t.Errorf("%s: needsCluster %v, want %v", tc.name, got, tc.want)
		}
		if !c.needsCluster(pb, map[string]string{"server": "s"}) {
			t.Errorf("%s: a run recorded against a cluster must connect", tc.name)
		}
	}
	explicit := &Config{Cluster: &cluster.Access{Source: cluster.Source{Context: "prod"}}}
	pb, _ := playbooks.Load("x.yaml", []byte(head+"    exec: {argv: [\"true\"]}\n"), explicit.Registry())
	if !explicit.needsCluster(pb, nil) {
		t.Error("a named context must bind even an exec-only run")
	}
}

func TestTargetStringIsContextAtServer(t *testing.T) {
	got := cluster.TargetString(map[string]string{"context": "prod", "server": "https://10.0.0.1:6443", "kube-system-uid": "u"})
	if got != "prod@https://10.0.0.1:6443" {
		t.Fatalf("got %q", got)
	}
	if got := cluster.TargetString(nil); got != "-" {
		t.Fatalf("empty target: %q", got)
	}
}
