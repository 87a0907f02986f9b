package kube

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func objPtr[T any](v T) *T { return &v }

var objPodMapping = Mapping{GVR: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Kind: "Pod", Namespaced: true}

func objPodsTarget(sel string) *objTarget {
	return &objTarget{q: ObjectQuery{Kind: "Pod", Namespace: "app", Selector: sel}, m: objPodMapping, ns: "app"}
}

// objTestPod builds a pod as the API returns it; ready "" leaves out the
// Ready condition.
func objTestPod(name, phase, ready, reason string, containers ...map[string]any) *unstructured.Unstructured {
	status := map[string]any{"phase": phase}
	if ready != "" {
		status["conditions"] = []any{map[string]any{"type": "Ready", "status": ready, "reason": reason}}
	}
	cs := []any{}
	for _, c := range containers {
		cs = append(cs, c)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "app", "labels": map[string]any{"app": "web", "istio.io/rev": "asm-1"}},
		"spec": map[string]any{"containers": []any{
			map[string]any{"name": "app", "image": "registry.k8s.io/pause:3.10"},
			map[string]any{"name": "istio-proxy", "image": "gcr.io/gke-release/asm/proxyv2:1.14.0-asm.1"},
		}},
		"status": map[string]any{"phase": phase, "conditions": status["conditions"], "containerStatuses": cs},
	}}
}

func objJudged(t *testing.T, p *CheckParams, tgt *objTarget, objs ...*unstructured.Unstructured) *checkOutcome {
	t.Helper()
	if errs := p.Validate(); len(errs) > 0 {
		t.Fatalf("Validate: %v", errs)
	}
	out, err := p.judge(tgt, objs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCheckJudgeListsOffendingPods(t *testing.T) {
	good := objTestPod("web-1", "Running", "True", "")
	notReady := objTestPod("web-7d9", "Running", "False", "ContainersNotReady")
	crashing := objTestPod("web-8x2", "Running", "False", "ContainersNotReady",
		map[string]any{"name": "istio-proxy", "state": map[string]any{"waiting": map[string]any{"reason": "CrashLoopBackOff"}}})
	pending := objTestPod("web-9zz", "Pending", "", "")
	done := objTestPod("job-1", "Succeeded", "False", "PodCompleted")

	p := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", Namespace: "app", Selector: "app=web"}, Expect: CheckExpect{PodsReady: true}}
	out := objJudged(t, p, objPodsTarget("app=web"), good, notReady, crashing, pending, done)
	want := "3 Pods not ready: app/web-7d9 (Ready=False: ContainersNotReady), app/web-8x2 (CrashLoopBackOff (istio-proxy), Ready=False: ContainersNotReady), app/web-9zz (Pending, no Ready condition)"
	if len(out.failures) != 1 || out.failures[0] != want {
		t.Errorf("failures = %q\nwant [%q]", out.failures, want)
	}
	if out.what != "Pods in app with selector app=web" {
		t.Errorf("what = %q", out.what)
	}

	out = objJudged(t, p, objPodsTarget("app=web"), good, done)
	if len(out.failures) != 0 {
		t.Errorf("ready and succeeded pods: failures = %q", out.failures)
	}
}

func TestCheckJudgeNoBadPods(t *testing.T) {
	terminating := objTestPod("web-1", "Running", "True", "")
	terminating.SetDeletionTimestamp(objPtr(objMetaNow()))
	failed := objTestPod("web-2", "Failed", "False", "PodFailed",
		map[string]any{"name": "app", "state": map[string]any{"terminated": map[string]any{"exitCode": int64(1), "reason": "Error"}}})
	p := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", AllNamespaces: true}, Expect: CheckExpect{NoBadPods: true}}
	out := objJudged(t, p, objPodsTarget(""), terminating, failed, objTestPod("ok", "Running", "True", ""))
	want := "2 Pods unhealthy: app/web-1 (Terminating), app/web-2 (Failed, Error (app exited 1), Ready=False: PodFailed)"
	if len(out.failures) != 1 || out.failures[0] != want {
		t.Errorf("failures = %q\nwant [%q]", out.failures, want)
	}
	// podsReady alone does not mind a Ready pod that is being deleted.
	p.Expect = CheckExpect{PodsReady: true}
	if out := objJudged(t, p, objPodsTarget(""), terminating); len(out.failures) != 0 {
		t.Errorf("podsReady on a ready terminating pod: %q", out.failures)
	}
}

func TestCheckJudgeImageTag(t *testing.T) {
	old := objTestPod("web-old", "Running", "True", "")
	old.Object["spec"].(map[string]any)["containers"].([]any)[1].(map[string]any)["image"] = "host:5000/asm/proxyv2:1.13.4-asm.2"
	noSidecar := objTestPod("web-bare", "Running", "True", "")
	noSidecar.Object["spec"].(map[string]any)["containers"] = []any{map[string]any{"name": "app", "image": "x:1"}}
	p := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", Namespace: "app"},
		Expect: CheckExpect{ContainerImageTag: &ImageTagExpect{Container: "istio-proxy", Tag: "1.14.0-asm.1"}}}
	out := objJudged(t, p, objPodsTarget(""), objTestPod("web-new", "Running", "True", ""), old, noSidecar)
	want := "2 Pods with container istio-proxy not at tag 1.14.0-asm.1: app/web-old (host:5000/asm/proxyv2:1.13.4-asm.2), app/web-bare (no container istio-proxy)"
	if len(out.failures) != 1 || out.failures[0] != want {
		t.Errorf("failures = %q\nwant [%q]", out.failures, want)
	}

	// A Deployment is objJudged by its pod template; native sidecars live in
	// initContainers.
	dep := &unstructured.Unstructured{Object: map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "gw", "namespace": "ingress"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"initContainers": []any{map[string]any{"name": "istio-proxy", "image": "proxyv2:1.14.0-asm.1"}},
			"containers":     []any{map[string]any{"name": "app", "image": "app:1"}},
		}}}}}
	if got := imageMismatch(dep, "istio-proxy", "1.14.0-asm.1"); got != "" {
		t.Errorf("deployment with matching native sidecar: %q", got)
	}
	if got := imageMismatch(dep, "istio-proxy", "1.15.0"); got != "proxyv2:1.14.0-asm.1" {
		t.Errorf("deployment with old sidecar: %q", got)
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": "c"}}}
	if got := imageMismatch(cm, "istio-proxy", "1"); got != "no pod spec or pod template" {
		t.Errorf("configmap: %q", got)
	}
}

func TestCheckJudgeNoImageTag(t *testing.T) {
	old := objTestPod("web-old", "Running", "True", "")
	old.Object["spec"].(map[string]any)["containers"].([]any)[1].(map[string]any)["image"] = "host:5000/asm/proxyv2:1.13.4-asm.2"
	noSidecar := objTestPod("web-bare", "Running", "True", "")
	noSidecar.Object["spec"].(map[string]any)["containers"] = []any{map[string]any{"name": "app", "image": "x:1.13.4-asm.2"}}
	p := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", AllNamespaces: true},
		Expect: CheckExpect{NoContainerImageTag: &ImageTagExpect{Container: "istio-proxy", Tag: "1.13.4-asm.2"}}}
	out := objJudged(t, p, objPodsTarget(""), objTestPod("web-new", "Running", "True", ""), old, noSidecar)
	want := "1 Pod with container istio-proxy at tag 1.13.4-asm.2: app/web-old (host:5000/asm/proxyv2:1.13.4-asm.2)"
	if len(out.failures) != 1 || out.failures[0] != want {
		t.Errorf("failures = %q\nwant [%q]", out.failures, want)
	}
	if out := objJudged(t, p, objPodsTarget(""), objTestPod("web-new", "Running", "True", ""), noSidecar); len(out.failures) != 0 {
		t.Errorf("no pod on the old tag: %q", out.failures)
	}
	bad := &CheckParams{ObjectQuery: p.ObjectQuery, Expect: CheckExpect{NoContainerImageTag: &ImageTagExpect{Container: "istio-proxy"}}}
	if errs := bad.Validate(); len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), "expect.noContainerImageTag.tag is required") {
		t.Errorf("missing tag: %v", errs)
	}
}

func TestCheckJudgeFieldsLabelsCountAndPublish(t *testing.T) {
	cluster := func(name, version string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"kind": "Cluster",
			"metadata": map[string]any{"name": name, "namespace": "bm", "labels": map[string]any{"tier": "user"}},
			"spec":     map[string]any{"anthosBareMetalVersion": version}}}
	}
	tgt := &objTarget{q: ObjectQuery{Kind: "Cluster", Namespace: "bm"}, m: Mapping{Kind: "Cluster", Namespaced: true}, ns: "bm"}
	p := &CheckParams{ObjectQuery: tgt.q, Expect: CheckExpect{
		Count:        objPtr(2),
		Fields:       map[string]string{"spec.anthosBareMetalVersion": "1.12.1", "spec.missing": "x"},
		Labels:       map[string]string{"tier": "admin"},
		AbsentLabels: []string{"tier"},
	}}
	out := objJudged(t, p, tgt, cluster("a", "1.12.1"), cluster("b", "1.12.0"), cluster("c", "1.12.1"))
	want := []string{
		`expected 2, found 3: Cluster bm/a, Cluster bm/b, Cluster bm/c`,
		`1 Cluster with spec.anthosBareMetalVersion != "1.12.1": bm/b ("1.12.0")`,
		`3 Clusters with spec.missing != "x": bm/a (spec.missing not set), bm/b (spec.missing not set), bm/c (spec.missing not set)`,
		`3 Clusters without label tier=admin: bm/a (tier=user), bm/b (tier=user), bm/c (tier=user)`,
		`3 Clusters with label tier: bm/a (tier=user), bm/b (tier=user), bm/c (tier=user)`,
	}
	if strings.Join(out.failures, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(out.failures, "\n"), strings.Join(want, "\n"))
	}

	p = &CheckParams{ObjectQuery: tgt.q, Publish: map[string]string{"version": "spec.anthosBareMetalVersion", "tier": `metadata.labels.tier`}}
	out = objJudged(t, p, tgt, cluster("z", "1.12.0"), cluster("a", "1.12.1"))
	if len(out.failures) != 0 {
		t.Fatalf("failures = %q", out.failures)
	}
	// judge sees objects already sorted by list(); "first" is the first given.
	if out.outputs["version"] != "1.12.0" || out.outputs["tier"] != "user" {
		t.Errorf("outputs = %v", out.outputs)
	}
	p.Publish = map[string]string{"x": "spec.nothing"}
	if _, err := p.judge(tgt, []*unstructured.Unstructured{cluster("a", "1")}); err == nil || !strings.Contains(err.Error(), "publish x: Cluster bm/a has no field spec.nothing") {
		t.Errorf("publish of a missing field: %v", err)
	}
}

func TestCheckJudgeExistence(t *testing.T) {
	tgt := &objTarget{q: ObjectQuery{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-asm-1"},
		m: Mapping{Kind: "Deployment", Namespaced: true}, ns: "istio-system"}
	dep := &unstructured.Unstructured{Object: map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "istiod-asm-1", "namespace": "istio-system"}}}
	for _, tc := range []struct {
		name   string
		expect CheckExpect
		objs   []*unstructured.Unstructured
		fail   string
	}{
		{"implicit exists, present", CheckExpect{}, []*unstructured.Unstructured{dep}, ""},
		{"implicit exists, absent", CheckExpect{}, nil, "nothing found (expected at least one Deployment)"},
		{"absent as expected", CheckExpect{Exists: objPtr(false)}, nil, ""},
		{"present, expected absent", CheckExpect{Exists: objPtr(false)}, []*unstructured.Unstructured{dep}, "expected none, found 1: Deployment istio-system/istiod-asm-1"},
		{"count 0", CheckExpect{Count: objPtr(0)}, nil, ""},
		{"count 1, none", CheckExpect{Count: objPtr(1)}, nil, "expected 1, found 0"},
	} {
		p := &CheckParams{ObjectQuery: tgt.q, Expect: tc.expect}
		out := objJudged(t, p, tgt, tc.objs...)
		if got := strings.Join(out.failures, "; "); !strings.HasPrefix(got, tc.fail) || (tc.fail == "") != (got == "") {
			t.Errorf("%s: failures %q, want %q", tc.name, got, tc.fail)
		}
	}
	if out := objJudged(t, &CheckParams{ObjectQuery: tgt.q}, tgt, dep); out.what != "Deployment istio-system/istiod-asm-1" {
		t.Errorf("what = %q", out.what)
	}
}

func TestCheckParamsValidate(t *testing.T) {
	q := ObjectQuery{Kind: "Pod", Namespace: "app"}
	for _, tc := range []struct {
		p    CheckParams
		want string
	}{
		{CheckParams{ObjectQuery: ObjectQuery{Namespace: "x"}}, "kind: is required"},
		{CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", Name: "a", Selector: "b=c"}}, "selector: set name or selector, not both"},
		{CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", Namespace: "a", AllNamespaces: true}}, "allNamespaces: set namespace or allNamespaces, not both"},
		{CheckParams{ObjectQuery: q, Expect: CheckExpect{Exists: objPtr(false), PodsReady: true}}, "expect.exists: exists: false cannot be combined with podsReady"},
		{CheckParams{ObjectQuery: q, Expect: CheckExpect{Exists: objPtr(false)}, Publish: map[string]string{"a": "b"}}, "publish: needs an object"},
		{CheckParams{ObjectQuery: q, Expect: CheckExpect{Count: objPtr(-1)}}, "expect.count: must not be negative"},
		{CheckParams{ObjectQuery: q, Expect: CheckExpect{ContainerImageTag: &ImageTagExpect{Tag: "1"}}}, "expect.containerImageTag.container: is required"},
		{CheckParams{ObjectQuery: q, Publish: map[string]string{"1x": "a"}}, "publish.1x: invalid output name"},
		{CheckParams{ObjectQuery: q, Publish: map[string]string{"x": "a..b"}}, "publish.x: invalid field path"},
	} {
		errs := tc.p.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Field+": "+errs[0].Msg, tc.want) {
			t.Errorf("Validate(%+v) = %v, want one error like %q", tc.p, errs, tc.want)
		}
	}
	ok := CheckParams{ObjectQuery: ObjectQuery{Kind: "${params.k}", Namespace: "${item}", Selector: "app=${params.a}"},
		Publish: map[string]string{"b": "${params.path}"}, Expect: CheckExpect{Fields: map[string]string{"a": "${x}"}}}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Errorf("references: %v", errs)
	}
	if got := ok.Outputs(); len(got) != 1 || got[0] != "b" {
		t.Errorf("Outputs = %v", got)
	}
}

func objMetaNow() metav1.Time { return metav1.Now() }
