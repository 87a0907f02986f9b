package kube

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

var (
	_ playbooks.Validator      = (*LabelParams)(nil)
	_ playbooks.OutputDeclarer = (*LabelParams)(nil)
	_ playbooks.Validator      = (*RestartParams)(nil)
	_ playbooks.Validator      = (*RolloutStatusParams)(nil)
	_ playbooks.Validator      = (*UndoParams)(nil)
	_ playbooks.Validator      = (*ScaleParams)(nil)
	_ playbooks.OutputDeclarer = (*ScaleParams)(nil)
	_ steps.Checker            = (*labeler)(nil)
	_ steps.Checker            = (*restarter)(nil)
	_ steps.Checker            = (*statusWaiter)(nil)
	_ steps.Checker            = (*undoer)(nil)
	_ steps.Checker            = (*scaler)(nil)
)

func TestRolloutParamsValidate(t *testing.T) {
	checkErrs(t, (&RestartParams{Selection: Selection{All: true, Namespace: "app"}}).Validate())
	checkErrs(t, (&RestartParams{Selection: Selection{All: true, Namespace: "app"}, Wait: true, Timeout: time.Minute}).Validate())
	checkErrs(t, (&RestartParams{Selection: Selection{All: true, Namespace: "app"}, Timeout: time.Minute}).Validate(), "timeout: bounds the wait")
	checkErrs(t, (&RestartParams{Selection: Selection{All: true, Namespace: "app"}, Wait: true, Timeout: -1}).Validate(), "timeout: must not be negative")
	checkErrs(t, (&RestartParams{}).Validate(), ": set one of names", "namespace: is required")
	checkErrs(t, (&RolloutStatusParams{Selection: Selection{Names: []string{"web"}, Namespace: "app"}, Timeout: time.Minute}).Validate())
	checkErrs(t, (&RolloutStatusParams{Selection: Selection{Names: []string{"web"}, Namespace: "app"}, Timeout: -1}).Validate(), "timeout: must not be negative")
	checkErrs(t, (&UndoParams{Name: "web", Namespace: "${params.ns}", ToRevision: 3}).Validate())
	checkErrs(t, (&UndoParams{ToRevision: -1}).Validate(), "name: is required", "namespace: is required", "toRevision: must be a revision number")
}

func TestScaleParamsValidate(t *testing.T) {
	checkErrs(t, (&ScaleParams{Name: "web", Namespace: "app", Replicas: "0"}).Validate())
	checkErrs(t, (&ScaleParams{Kind: "StatefulSet", Name: "${item}", Namespace: "app", Replicas: "${steps.s.previous}", Wait: true, Timeout: time.Minute}).Validate())
	checkErrs(t, (&ScaleParams{}).Validate(), "name: is required", "namespace: is required", "replicas: is required")
	checkErrs(t, (&ScaleParams{Name: "web", Namespace: "app", Replicas: "-1", Timeout: time.Second}).Validate(),
		`replicas: "-1" is not a replica count`, "timeout: bounds the wait")
	checkErrs(t, (&ScaleParams{Name: "web", Namespace: "app", Replicas: "three"}).Validate(), `replicas: "three" is not a replica count`)
}

const loadHeader = "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: t}\nparams:\n  ns: {type: string, default: app}\nsteps:\n"

func registry(t *testing.T) *steps.Registry {
	t.Helper()
	r := steps.NewRegistry(steps.Deps{})
	for _, k := range rolloutKinds(nil) {
		if err := r.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// The loader decodes params by reflection: this catches a field it cannot
// decode, the inline Selection, and yaml keys spelt unlike the docs.
func TestRolloutKindsLoad(t *testing.T) {
	src := loadHeader + `
  - id: relabel
    kube.label:
      kind: Namespace
      name: "${params.ns}"
      set: {istio.io/rev: asm-2}
      remove: [istio-injection]
    undo:
      kube.label: {kind: Namespace, name: "${params.ns}", restore: "${steps.relabel.previous}"}
  - id: note
    kube.annotate: {kind: deploy, selector: app=web, namespace: "${params.ns}", allowEmpty: true, set: {note: "a b"}}
  - id: restart
    kube.rolloutRestart: {all: true, namespace: "${params.ns}"}
  - id: status
    kube.rolloutStatus: {names: [web, api], namespace: "${params.ns}", timeout: 5m}
  - id: undo
    kube.rolloutUndo: {name: web, namespace: "${params.ns}", toRevision: 2}
  - id: scale
    kube.scale: {name: web, namespace: "${params.ns}", replicas: 0, wait: true, timeout: 1m}
    undo:
      kube.scale: {name: web, namespace: "${params.ns}", replicas: "${steps.scale.previous}"}
`
	pb, err := playbooks.Load("t.yaml", []byte(src), registry(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := pb.Steps[0].Params.(*LabelParams); p.field != "labels" || p.Remove[0] != "istio-injection" {
		t.Errorf("label params = %+v", p)
	}
	if p := pb.Steps[1].Params.(*LabelParams); p.field != "annotations" || !p.AllowEmpty {
		t.Errorf("annotate params = %+v", p)
	}
	if p := pb.Steps[2].Params.(*RestartParams); !p.All || p.Namespace != "${params.ns}" {
		t.Errorf("restart params = %+v", p)
	}
	if p := pb.Steps[3].Params.(*RolloutStatusParams); len(p.Names) != 2 || p.Timeout != 5*time.Minute {
		t.Errorf("status params = %+v", p)
	}
	if p := pb.Steps[4].Params.(*UndoParams); p.ToRevision != 2 {
		t.Errorf("undo params = %+v", p)
	}
	if p := pb.Steps[5].Params.(*ScaleParams); p.Replicas != "0" || !p.Wait {
		t.Errorf("scale params = %+v", p)
	}

	bad := loadHeader + `
  - id: a
    kube.rolloutRestart: {name: web, namespace: app}
  - id: b
    kube.label: {kind: Namespace, name: x, set: {a: b}, remove: [a]}
  - id: c
    kube.scale: {name: web, namespace: app}
`
	_, err = playbooks.Load("t.yaml", []byte(bad), registry(t))
	for _, want := range []string{"t.yaml:9:27: unknown field name in kube.rolloutRestart", "t.yaml:11:66: remove.0: key a is also in set", "t.yaml:13:5: replicas: is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load error = %v, want it to contain %q", err, want)
		}
	}
}

// New must not contact the server: validate and plan build no clients, and
// a run builds them lazily.
func TestRolloutKindsNewWithoutServer(t *testing.T) {
	calls := 0
	clients := func() (*cluster.Clients, error) { calls++; return &cluster.Clients{}, nil }
	for _, k := range rolloutKinds(clients) {
		if !k.NeedsCluster {
			t.Errorf("%s does not declare that it needs a cluster", k.Name)
		}
		if k.Summary == "" {
			t.Errorf("%s has no summary", k.Name)
		}
		if _, err := k.New(); err != nil {
			t.Errorf("%s: New() = %v", k.Name, err)
		}
	}
	if calls != 6 {
		t.Errorf("cluster() called %d times, want once per kind (6)", calls)
	}
	for _, k := range rolloutKinds(nil) {
		if _, err := k.New(); !errors.Is(err, cluster.ErrNotConfigured) {
			t.Errorf("%s without a cluster: New() = %v, want ErrNotConfigured", k.Name, err)
		}
	}
}

func rs(name string, rev string) appsv1.ReplicaSet {
	return appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"deployment.kubernetes.io/revision": rev}}}
}

func TestPickTarget(t *testing.T) {
	rss := []appsv1.ReplicaSet{rs("web-1", "1"), rs("web-3", "3"), rs("web-2", "2")}
	if got, rev, err := pickTarget("deployment a/web", rss, 3, 0, "m"); err != nil || got.Name != "web-2" || rev != 2 {
		t.Errorf("previous = %v %d %v, want web-2 (revision 2)", got, rev, err)
	}
	if got, rev, err := pickTarget("deployment a/web", rss, 3, 1, "m"); err != nil || got.Name != "web-1" || rev != 1 {
		t.Errorf("toRevision 1 = %v %d %v", got, rev, err)
	}
	// A target marked by an earlier attempt wins over "previous".
	rss[0].Annotations[undoMarkerKey] = "m"
	if got, _, err := pickTarget("deployment a/web", rss, 3, 0, "m"); err != nil || got.Name != "web-1" {
		t.Errorf("marked target = %v %v, want web-1", got, err)
	}
	_, _, err := pickTarget("deployment a/web", rss, 3, 7, "other")
	if err == nil || err.Error() != "deployment a/web: no revision 7 to roll back to (revisions kept: 3, 2, 1)" {
		t.Errorf("missing revision: %v", err)
	}
	_, _, err = pickTarget("deployment a/web", rss[1:2], 3, 0, "m")
	var perm *steps.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "no previous revision to roll back to (current revision 3; revisions kept: 3)") {
		t.Errorf("single revision: %v", err)
	}
}

func deploymentObj(gen, observed int64, replicas, updated, available int64, conds ...map[string]any) *unstructured.Unstructured {
	cs := make([]any, len(conds))
	for i, c := range conds {
		cs[i] = c
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "app-1", "generation": gen},
		"spec":     map[string]any{"replicas": replicas},
		"status": map[string]any{"observedGeneration": observed, "replicas": replicas, "updatedReplicas": updated,
			"availableReplicas": available, "conditions": cs},
	}}
}

func TestRolloutStatusMessages(t *testing.T) {
	var reports []string
	w, err := newRolloutWait(nil, deploymentMapping, Selection{Names: []string{"web"}, Namespace: "app-1"},
		func(f string, a ...any) { reports = append(reports, f) })
	if err != nil {
		t.Fatal(err)
	}
	msg, done, err := w.status(deploymentObj(2, 2, 2, 2, 1))
	if err != nil || done || msg != "1 of 2 updated replicas are available" {
		t.Errorf("status = %q %v %v", msg, done, err)
	}
	if msg, done, _ := w.status(deploymentObj(3, 2, 2, 2, 2)); done || msg != "waiting for deployment spec update to be observed" {
		t.Errorf("unobserved generation: %q %v", msg, done)
	}
	if _, done, _ := w.status(deploymentObj(2, 2, 2, 2, 2)); !done {
		t.Error("complete rollout not done")
	}
	stuck := deploymentObj(2, 2, 2, 2, 1, map[string]any{"type": "Progressing", "status": "False",
		"reason": "ProgressDeadlineExceeded", "message": `ReplicaSet "web-abc" has timed out progressing.`})
	_, _, err = w.status(stuck)
	want := `deployment app-1/web: rollout not complete: 1 of 2 updated replicas are available (ProgressDeadlineExceeded: ReplicaSet "web-abc" has timed out progressing.)`
	var perm *steps.PermanentError
	if !errors.As(err, &perm) || err.Error() != want {
		t.Errorf("stuck rollout: err = %v\nwant %s", err, want)
	}
	// kubectl calls a scale-down done once observed; kube.scale waits for
	// the surplus pods to go.
	shrinking := deploymentObj(3, 3, 0, 3, 3)
	_ = unstructured.SetNestedField(shrinking.Object, int64(3), "status", "replicas")
	if _, done, _ := w.status(shrinking); !done {
		t.Error("kubectl semantics: a scale-down observed by the controller is done")
	}
	w.settle = true
	if msg, done, _ := w.status(shrinking); done || msg != "3 replicas still exist, want 0" {
		t.Errorf("settle: status = %q %v", msg, done)
	}
	if _, err := newRolloutWait(nil, Mapping{Kind: "ConfigMap"}, Selection{}, nil); !errors.As(err, &perm) {
		t.Errorf("waiting for a ConfigMap: err = %v, want a permanent error", err)
	}
}
