//go:build integration

package kube_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// The revision relabel of an ASM upgrade, its resume, and its undo from the
// `previous` output.
func TestLabelNamespaceResumeAndRestore(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, map[string]string{"istio-injection": "enabled"})
	ex := executor(t, clusterFor(t, env, nil), "kube.label")
	p := newParams[kube.LabelParams](t, "kube.label")
	p.Kind, p.Name = "Namespace", ns
	p.Set = map[string]string{"istio.io/rev": "asm-1-20"}
	p.Remove = []string{"istio-injection"}
	in := instance(t, p, token())

	if checkDone(t, ex, in) {
		t.Fatal("Check before Run says done")
	}
	res := runOK(t, ex, in)
	got := nsLabels(t, env, ns)
	if got["istio.io/rev"] != "asm-1-20" || got["istio-injection"] != "" || got["cairn.dev/test"] != "true" {
		t.Fatalf("labels after Run = %v", got)
	}
	if want := "istio-injection=enabled,istio.io/rev-"; res.Outputs["previous"] != want {
		t.Errorf("previous = %q, want %q", res.Outputs["previous"], want)
	}
	if !strings.Contains(res.Evidence, `namespace `+ns+`: removed istio-injection (was "enabled"), set istio.io/rev="asm-1-20" (was unset)`) {
		t.Errorf("evidence = %q", res.Evidence)
	}

	// Resume after a kill between the patch and the journal: Check says
	// done, and a second Run writes nothing.
	if !checkDone(t, ex, in) {
		t.Fatal("Check after Run says not done")
	}
	rv := nsObj(t, env, ns).ResourceVersion
	res = runOK(t, ex, in)
	if after := nsObj(t, env, ns).ResourceVersion; after != rv {
		t.Errorf("second Run wrote the namespace (resourceVersion %s -> %s)", rv, after)
	}
	if !strings.Contains(res.Evidence, "labels already as wanted") {
		t.Errorf("second Run evidence = %q", res.Evidence)
	}

	// The undo a playbook writes: restore: ${steps.relabel.previous}.
	undo := newParams[kube.LabelParams](t, "kube.label")
	undo.Kind, undo.Name, undo.Restore = "Namespace", ns, "istio-injection=enabled,istio.io/rev-"
	runOK(t, ex, instance(t, undo, token()))
	got = nsLabels(t, env, ns)
	if _, has := got["istio.io/rev"]; has || got["istio-injection"] != "enabled" {
		t.Fatalf("labels after restore = %v", got)
	}
}

func TestAnnotateBySelector(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "web", depOpts{labels: map[string]string{"tier": "front"}})
	createDeployment(t, env, ns, "api", depOpts{labels: map[string]string{"tier": "front"}})
	createDeployment(t, env, ns, "db", depOpts{})
	ex := executor(t, clusterFor(t, env, nil), "kube.annotate")
	p := newParams[kube.LabelParams](t, "kube.annotate")
	p.Kind, p.Namespace, p.Selector = "deploy", ns, "tier=front"
	p.Set = map[string]string{"cairn.dev/note": "upgraded, to asm-1-20"}
	in := instance(t, p, token())

	res := runOK(t, ex, in)
	for name, want := range map[string]string{"web": "upgraded, to asm-1-20", "api": "upgraded, to asm-1-20", "db": ""} {
		if got := getDeployment(t, env, ns, name).Annotations["cairn.dev/note"]; got != want {
			t.Errorf("deployment %s: note = %q, want %q", name, got, want)
		}
	}
	if res.Outputs["previous"] != "" {
		t.Errorf("previous with two objects = %q, want empty", res.Outputs["previous"])
	}
	if lines := strings.Split(res.Evidence, "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "deployment "+ns+"/api: set cairn.dev/note") {
		t.Errorf("evidence = %q", res.Evidence)
	}
	if !checkDone(t, ex, in) {
		t.Error("Check after Run says not done")
	}

	p.Selector = "tier=none"
	_, err := ex.Run(testCtx(t, time.Minute), instance(t, p, token()))
	wantPermanent(t, err, "found no deployments in namespace "+ns+" matching tier=none", "allowEmpty")
	p.AllowEmpty = true
	runOK(t, ex, instance(t, p, token()))
}

func TestLabelFailures(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	ex := executor(t, clusterFor(t, env, nil), "kube.label")
	p := newParams[kube.LabelParams](t, "kube.label")
	p.Kind, p.Name, p.Set = "Namespace", ns+"-missing", map[string]string{"a": "b"}
	_, err := ex.Run(testCtx(t, time.Minute), instance(t, p, token()))
	wantPermanent(t, err, "namespace "+ns+"-missing: not found")

	p.Kind, p.Name = "NoSuchKind", "x"
	_, err = ex.Run(testCtx(t, time.Minute), instance(t, p, token()))
	wantPermanent(t, err, `the cluster serves no resource "NoSuchKind"`)

	p.Kind, p.Name, p.Namespace = "Namespace", ns, "default"
	_, err = ex.Run(testCtx(t, time.Minute), instance(t, p, token()))
	wantPermanent(t, err, "Namespace is cluster-scoped")

	// A value rendered from a reference is checked when the step runs.
	p.Namespace, p.Set = "", map[string]string{"a": "not a label value"}
	_, err = ex.Run(testCtx(t, time.Minute), instance(t, p, token()))
	wantPermanent(t, err, "set.a: invalid label value")
}

func nsObj(t *testing.T, env *kubetest.Env, name string) *metav1.ObjectMeta {
	t.Helper()
	got, err := env.Clientset.CoreV1().Namespaces().Get(testCtx(t, time.Minute), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &got.ObjectMeta
}

func nsLabels(t *testing.T, env *kubetest.Env, name string) map[string]string {
	t.Helper()
	return nsObj(t, env, name).Labels
}
