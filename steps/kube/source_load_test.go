package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

const objLoadHeader = "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: t}\n" +
	"params:\n  oldRev: {type: string, default: asm-1130-0}\n  newRev: {type: string, default: asm-1140-0}\nsteps:\n"

// objRegistry registers the object kinds and sources with a cluster func
// that counts its calls, so tests see when clients are built.
func objRegistry(t *testing.T, calls *int) *steps.Registry {
	t.Helper()
	// Building clients does not contact the server, so the counted func
	// hands out empty ones.
	clients := func() (*cluster.Clients, error) { *calls++; return &cluster.Clients{}, nil }
	r := steps.NewRegistry(steps.Deps{})
	for _, k := range objectKinds(clients) {
		if err := r.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range objectSources(clients) {
		if err := r.AddSource(k); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// The loader decodes params by reflection: this catches a field type it
// cannot decode, the inlined ObjectQuery, and yaml keys spelt unlike the
// docs; it also checks that references are accepted everywhere.
func TestObjectKindsLoad(t *testing.T) {
	src := objLoadHeader + `
  - id: read
    kube.check:
      kind: Pod
      namespace: istio-system
      selector: app=istiod
      expect:
        exists: true
        count: 2
        fields: {"metadata.labels.istio\\.io/rev": "${params.oldRev}"}
        labels: {app: istiod}
        absentLabels: [istio-injection]
        podsReady: true
        noBadPods: true
        containerImageTag: {container: discovery, tag: "1.14.0-asm.1"}
      publish:
        oldRev: "metadata.labels.istio\\.io/rev"
  - id: apply
    kube.apply:
      namespace: istio-system
      force: true
      manifest: |
        apiVersion: v1
        kind: Service
        metadata: {name: istiod, labels: {istio.io/rev: "${params.newRev}"}}
  - id: wait
    kube.waitFor:
      kind: DataPlaneControl
      allNamespaces: true
      fields: [{path: spec.revision, equals: rapid}, {path: status.state, notEquals: none}]
      match: any
      timeout: 10m
  - id: tag
    istio.tagSet: {tag: default, revision: "${params.newRev}", istioNamespace: istio-system}
    undo:
      istio.tagSet: {tag: default, revision: "${steps.tag.previousRevision}"}
  - id: relabel
    foreach: {kube.namespaces: {selector: "istio.io/rev=${params.oldRev}", exclude: [kube-system]}}
    exec: {argv: [echo, "${item}", "${steps.read.oldRev}"]}
  - id: per-deploy
    foreach: {kube.names: {kind: Deployment, namespace: app, selector: "app"}}
    kube.waitFor: {kind: Deployment, namespace: app, name: "${item}", condition: {type: Available}}
  - id: finish
    kube.delete:
      kinds: [Service, Deployment, HorizontalPodAutoscaler, PodDisruptionBudget]
      name: istiod-${steps.read.oldRev}
      namespace: istio-system
      ignoreNotFound: true
      wait: true
      timeout: 2m
      propagation: Foreground
`
	calls := 0
	r := objRegistry(t, &calls)
	pb, err := playbooks.Load("t.yaml", []byte(src), r)
	if err != nil {
		t.Fatal(err)
	}
	c := pb.Steps[0].Params.(*CheckParams)
	if c.Kind != "Pod" || *c.Expect.Count != 2 || !*c.Expect.Exists || c.Expect.ContainerImageTag.Container != "discovery" ||
		c.Expect.Fields[`metadata.labels.istio\.io/rev`] != "${params.oldRev}" || c.Publish["oldRev"] == "" {
		t.Errorf("check params = %+v", c)
	}
	if a := pb.Steps[1].Params.(*ApplyParams); !a.Force || !strings.Contains(a.Manifest, "${params.newRev}") {
		t.Errorf("apply params = %+v", a)
	}
	w := pb.Steps[2].Params.(*WaitForParams)
	if !w.AllNamespaces || len(w.Fields) != 2 || w.Fields[1].op != "notEquals" || w.Match != "any" || w.Timeout != 10*time.Minute {
		t.Errorf("waitFor params = %+v", w)
	}
	if d := pb.Steps[6].Params.(*DeleteParams); len(d.Kinds) != 4 || !d.Wait || !d.IgnoreNotFound || d.Propagation != "Foreground" {
		t.Errorf("delete params = %+v", d)
	}
	if calls != 0 {
		t.Errorf("loading the playbook built clients %d times, want 0", calls)
	}
	names := []string{"kube.apply", "kube.check", "kube.delete", "kube.waitFor", "istio.tagSet", "kube.namespaces", "kube.names"}
	for _, name := range names {
		ex, err := r.Executor(name)
		if err != nil {
			t.Fatalf("Executor(%s): %v", name, err)
		}
		if _, ok := ex.(steps.Checker); !ok && !strings.HasPrefix(name, "kube.n") {
			t.Errorf("%s has no Check", name)
		}
	}
	if calls != len(names) {
		t.Errorf("building %d executors built clients %d times, want once each", len(names), calls)
	}
	src2, _ := r.Executor("kube.namespaces")
	if _, err := src2.Run(context.Background(), steps.Instance{}); err == nil || !strings.Contains(err.Error(), "item source") {
		t.Errorf("Run on a source = %v, want an error saying it is a source", err)
	}
}

func TestObjectKindsLoadErrors(t *testing.T) {
	bad := objLoadHeader + `
  - id: a
    kube.check: {kind: Pod, namespace: x, expect: {exist: true}}
  - id: b
    kube.delete: {kinds: [Service], namespace: x}
  - id: c
    kube.waitFor: {kind: Deployment, namespace: x, name: a, condition: {type: Available}, deleted: true}
  - id: d
    kube.apply: {manifest: "kind: Service"}
  - id: e
    istio.tagSet: {tag: default}
  - id: f
    foreach: {kube.namespaces: {selector: "a in ("}}
    exec: {argv: [echo]}
  - id: g
    kube.check: {kind: Pod, namespace: x, expect: {fields: {"a..b": "1"}}}
  - id: h
    exec: {argv: [echo, "${steps.a.nothing}"]}
`
	calls := 0
	_, err := playbooks.Load("t.yaml", []byte(bad), objRegistry(t, &calls))
	for _, want := range []string{
		"t.yaml:10:52: unknown field exist in kube.check.expect",
		"t.yaml:12:5: name: is required",
		"deleted: deleted waits for the objects to be gone; it cannot be combined with condition",
		"t.yaml:16:18: manifest: document 1: Service has no metadata.name",
		"t.yaml:18:5: revision: is required",
		"selector: invalid label selector",
		"expect.fields.a..b: invalid field path",
		"step a has no output nothing",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load error = %v\nwant it to contain %q", err, want)
		}
	}
}
