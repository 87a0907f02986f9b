//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

const (
	oldVersion = "1.14.6"
	newVersion = "1.15.4"
)

// canaryWorld is the BEFORE state of procedure B: revision OLD (1.14.6)
// installed, a tag pointing at it, a gateway and three app namespaces using
// the tag, every pod injected with the old proxy.
type canaryWorld struct {
	h                *harness
	istioNS, gwNS    string
	apps             []string // apps[0] is the canary
	oldRev, newRev   string
	tag, newIstioctl string
	playbook         string
	profile          string // of the old install; "" is minimal
}

func newCanaryWorld(t *testing.T) *canaryWorld {
	h := newHarness(t)
	h.install("istio", oldVersion)
	h.install("istio", newVersion)
	h.startInjector()
	suffix := kubetest.UniqueName("x", 8)[2:]
	w := &canaryWorld{
		h:           h,
		oldRev:      "1-14-6-" + suffix,
		newRev:      "1-15-4-" + suffix,
		tag:         "e2e-" + suffix,
		newIstioctl: filepath.Join(h.bins, "istio-"+newVersion, "bin", "istioctl"),
		playbook:    filepath.Join(repoRoot, "playbooks", "builtin", "istio-canary-tags.yaml"),
	}
	w.istioNS = h.env.Namespace(t, nil)
	oldctl := filepath.Join("istio-"+oldVersion, "bin", "istioctl")
	t.Cleanup(func() { w.cleanup() })
	// install has no namespace flag: the namespace is values.global.istioNamespace.
	h.tool(oldctl, "install", "--set", "values.global.istioNamespace="+w.istioNS, "--set", "profile="+w.oldProfile(), "--set", "revision="+w.oldRev, "-y")
	h.tool(oldctl, "tag", "set", w.tag, "--revision", w.oldRev, "-i", w.istioNS)
	rev := map[string]string{"istio.io/rev": w.tag}
	w.gwNS = h.env.Namespace(t, rev)
	h.env.CreateIngressGateway(t, w.gwNS, oldVersion)
	for i := 0; i < 3; i++ {
		ns := h.env.Namespace(t, rev)
		w.apps = append(w.apps, ns)
		h.env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", Replicas: 2, ProxyVersion: "0.0.0"})
	}
	for _, ns := range w.namespaces() {
		w.h.waitProxyTags(ns, oldVersion, 60*time.Second)
	}
	return w
}

func (w *canaryWorld) namespaces() []string { return append([]string{w.gwNS}, w.apps...) }

func (w *canaryWorld) oldProfile() string {
	if w.profile != "" {
		return w.profile
	}
	return "minimal"
}

// names outside istio-system carry the namespace (istio's charts).
func (w *canaryWorld) tagWebhook() string { return "istio-revision-tag-" + w.tag + "-" + w.istioNS }
func (w *canaryWorld) injector(rev string) string {
	return "istio-sidecar-injector-" + rev + "-" + w.istioNS
}

// cleanup removes the cluster-scoped leftovers of both revisions and the tag.
func (w *canaryWorld) cleanup() {
	for _, rev := range []string{w.newRev, w.oldRev} {
		_, _ = w.h.toolErr("istioctl", "uninstall", "--istioNamespace", w.istioNS, "--revision", rev, "-y", "--purge")
	}
	c := bg(w.h.t)
	api := w.h.env.Clientset.AdmissionregistrationV1()
	_ = api.ValidatingWebhookConfigurations().Delete(c, "istiod-default-validator", metav1.DeleteOptions{})
	for _, name := range []string{w.tagWebhook(), w.injector(w.oldRev), w.injector(w.newRev)} {
		_ = api.MutatingWebhookConfigurations().Delete(c, name, metav1.DeleteOptions{})
	}
	for _, rev := range []string{w.oldRev, w.newRev} {
		_ = api.ValidatingWebhookConfigurations().Delete(c, "istio-validator-"+rev+"-"+w.istioNS, metav1.DeleteOptions{})
	}
}

func (w *canaryWorld) params() []string {
	return []string{
		"-p", "istioctl=" + w.newIstioctl,
		"-p", "istioNamespace=" + w.istioNS,
		"-p", "oldRev=" + w.oldRev,
		"-p", "newRev=" + w.newRev,
		"-p", "newVersion=" + newVersion,
		"-p", "profile=minimal",
		"-p", "tag=" + w.tag,
		"-p", "gatewayNamespace=" + w.gwNS,
		"-p", "canaryNamespace=" + w.apps[0],
	}
}

// runToGate starts the run and checks it paused at the gate with the
// gateway and the canary upgraded and the rest untouched.
func (w *canaryWorld) runToGate() string {
	t := w.h.t
	r := w.h.mustCairn(0, append([]string{"run", w.playbook}, w.params()...)...)
	run := runIDOf(t, r)
	w.assertTag(w.newRev)
	w.h.waitProxyTags(w.gwNS, newVersion, 30*time.Second)
	w.h.waitProxyTags(w.apps[0], newVersion, 30*time.Second)
	for _, ns := range w.apps[1:] {
		w.h.waitProxyTags(ns, oldVersion, 5*time.Second)
	}
	return run
}

func (w *canaryWorld) assertTag(rev string) {
	t := w.h.t
	t.Helper()
	mwc, err := w.h.env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(bg(t), w.tagWebhook(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("tag webhook: %v", err)
	}
	if got := mwc.Labels["istio.io/rev"]; got != rev {
		t.Errorf("tag webhook istio.io/rev = %q, want %q", got, rev)
	}
	for _, wh := range mwc.Webhooks {
		if s := wh.ClientConfig.Service; s == nil || s.Name != "istiod-"+rev || s.Namespace != w.istioNS {
			t.Errorf("tag webhook %s calls %+v, want istiod-%s", wh.Name, s, rev)
		}
	}
}

// assertControlPlane checks that revision rev's Deployment, Service and
// injector webhook are present (or absent).
func (w *canaryWorld) assertControlPlane(rev string, present bool) {
	t := w.h.t
	t.Helper()
	c := bg(t)
	cs := w.h.env.Clientset
	_, e1 := cs.AppsV1().Deployments(w.istioNS).Get(c, "istiod-"+rev, metav1.GetOptions{})
	_, e2 := cs.CoreV1().Services(w.istioNS).Get(c, "istiod-"+rev, metav1.GetOptions{})
	_, e3 := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, w.injector(rev), metav1.GetOptions{})
	for i, err := range []error{e1, e2, e3} {
		what := []string{"Deployment", "Service", "injector webhook"}[i]
		switch {
		case present && err != nil:
			t.Errorf("revision %s: %s: %v", rev, what, err)
		case !present && !apierrors.IsNotFound(err):
			t.Errorf("revision %s: %s still present (err %v)", rev, what, err)
		}
	}
}

func (w *canaryWorld) assertAfter() {
	w.assertTag(w.newRev)
	for _, ns := range w.namespaces() {
		w.h.waitProxyTags(ns, newVersion, 30*time.Second)
	}
	w.assertControlPlane(w.oldRev, false)
	w.assertControlPlane(w.newRev, true)
}

func TestIstioCanaryTagsUpgrade(t *testing.T) {
	w := newCanaryWorld(t)
	run := w.runToGate()
	w.h.mustCairn(0, "approve", run, "canary-ok")
	w.h.mustCairn(0, "resume", run)
	// A gate before the irreversible uninstall: nothing removed yet.
	w.assertControlPlane(w.oldRev, true)
	w.h.mustCairn(0, "approve", run, "ready-to-uninstall-old")
	w.h.mustCairn(0, "resume", run)
	w.assertAfter()
	// Each Deployment was restarted exactly once: two ReplicaSets each.
	for _, ns := range w.namespaces() {
		for dep, n := range w.h.replicaSets(ns) {
			if n != 2 {
				t.Errorf("%s/%s has %d ReplicaSets, want 2 (one restart)", ns, dep, n)
			}
		}
	}
	if n := w.h.fakeCalls("install", "revision="+w.newRev); n != 1 {
		t.Errorf("istioctl install ran %d times, want 1", n)
	}
	if n := w.h.fakeCalls("uninstall", w.oldRev); n != 1 {
		t.Errorf("istioctl uninstall ran %d times, want 1", n)
	}
	// One namespace at a time: each namespace was restarted, rolled out,
	// checked and verified before the next one was restarted.
	current, verified := "", map[string]bool{}
	for _, ev := range w.h.events(run) {
		step, _ := ev["step"].(string)
		item, _ := ev["item"].(string)
		if !strings.HasPrefix(step, "rest-") || step == "rest-rollback-point" || strings.HasPrefix(step, "rest-injection") {
			continue
		}
		switch {
		case step == "rest-restart" && ev["type"] == "instance.started":
			if current != "" && !verified[current] {
				t.Errorf("rest-restart[%s] started before %s was verified", item, current)
			}
			current = item
		case item != current:
			t.Errorf("%s[%s] %v while namespace %s was in progress", step, item, ev["type"], current)
		case step == "rest-restart" && ev["type"] == "instance.succeeded":
			if ev, _ := ev["evidence"].(string); !strings.Contains(ev, "rolled out (generation") {
				t.Errorf("rest-restart[%s] finished without waiting for its rollout: %q", item, ev)
			}
		case step == "rest-verify" && ev["type"] == "instance.succeeded":
			verified[item] = true
		}
	}
	if len(verified) != len(w.apps)-1 {
		t.Errorf("%d other namespaces verified, want %d", len(verified), len(w.apps)-1)
	}
	// The old revision is uninstalled: rollback refuses rather than move
	// the tag back onto nothing, and the cluster stays as the run left it.
	w.h.assertPastNoReturn(run, "ready-to-uninstall-old", "uninstall-old")
	w.assertAfter()
}

func TestIstioCanaryTagsRollback(t *testing.T) {
	w := newCanaryWorld(t)
	run := w.runToGate()
	w.h.mustCairn(0, "rollback", run)
	w.assertTag(w.oldRev)
	w.assertControlPlane(w.newRev, false)
	w.assertControlPlane(w.oldRev, true)
	for _, ns := range w.namespaces() {
		w.h.waitProxyTags(ns, oldVersion, 30*time.Second)
	}
}

func TestIstioCanaryTagsRefusesSkip(t *testing.T) {
	w := newCanaryWorld(t)
	// 1.14 -> 1.17 skips two minors: the preflight must stop before install.
	h := w.h
	h.install("istio", "1.17.2")
	params := w.params()
	for i, p := range params {
		if strings.HasPrefix(p, "istioctl=") {
			params[i] = "istioctl=" + filepath.Join(h.bins, "istio-1.17.2", "bin", "istioctl")
		}
		if strings.HasPrefix(p, "newVersion=") {
			params[i] = "newVersion=1.17.2"
		}
	}
	r := h.cairn(nil, append([]string{"run", w.playbook}, params...)...)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "at most two") {
		t.Fatalf("run of 1.14 -> 1.17: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n := h.fakeCalls("install", "revision="+w.newRev); n != 0 {
		t.Errorf("istioctl install ran %d times", n)
	}
	w.assertControlPlane(w.newRev, false)
	w.assertTag(w.oldRev)
}

// TestIstioCanaryTagsCrashes kills cairn (failpoint CAIRN_KILL_AFTER=K: the
// K-th journal commit of every process) over and over, resuming each time
// and approving the gate when the run pauses there. A resume journals run.resumed and lock.takenover,
// then re-starts the interrupted instance (instance.started), so K=4 kills
// each process right after the next instance.succeeded (or
// instance.checked), and K=5 right after the instance.started that follows
// it: together every kind of transition of every step is a kill point.
// (K=3 cannot progress: each process would die right after re-starting the
// same unchecked instance.) Then the after state must be the one of an
// uninterrupted run, with every effect exactly once.
func TestIstioCanaryTagsCrashes(t *testing.T) {
	for _, k := range crashEvery {
		t.Run(fmt.Sprintf("kill-after-%d", k), func(t *testing.T) {
			w := newCanaryWorld(t)
			run := w.h.runWithCrashes(k, w.playbook, w.params(), "canary-ok", "ready-to-uninstall-old")
			w.assertAfter()
			for _, ns := range w.namespaces() {
				for dep, n := range w.h.replicaSets(ns) {
					if n != 2 {
						t.Errorf("%s/%s has %d ReplicaSets, want 2 (exactly one restart)", ns, dep, n)
					}
				}
			}
			if n := w.h.fakeCalls("install", "revision="+w.newRev); n != 1 {
				t.Errorf("istioctl install ran %d times, want 1", n)
			}
			if n := w.h.fakeCalls("uninstall", w.oldRev); n != 1 {
				t.Errorf("istioctl uninstall ran %d times, want 1", n)
			}
			w.h.assertNoRerun(run)
		})
	}
}

// An install that fails half way (its istiod never becomes ready: a quota
// forbids the pod) leaves a Deployment, Service and webhooks behind. The
// install step is marked undoFailed, so rollback removes them although the
// step never succeeded, and leaves the old revision and the tag alone.
func TestIstioCanaryTagsRollbackAfterFailedInstall(t *testing.T) {
	w := newCanaryWorld(t)
	h := w.h
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "no-more-pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}},
	}
	waitQuota(t, h, w.istioNS, quota)
	r := h.cairn([]string{"CAIRN_FAKE_READINESS_TIMEOUT=3s"}, append([]string{"run", w.playbook}, w.params()...)...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "install") {
		t.Fatalf("run with a stuck install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	run := runIDOf(t, r)
	// Half an install: something for rollback to remove.
	if _, err := h.env.Clientset.AppsV1().Deployments(w.istioNS).Get(bg(t), "istiod-"+w.newRev, metav1.GetOptions{}); err != nil {
		t.Fatalf("the failed install left no Deployment: %v", err)
	}
	h.mustCairn(0, "rollback", run)
	w.assertControlPlane(w.newRev, false)
	w.assertControlPlane(w.oldRev, true)
	w.assertTag(w.oldRev)
	if n := h.fakeCalls("uninstall", w.newRev); n != 1 {
		t.Errorf("istioctl uninstall --revision %s ran %d times, want 1", w.newRev, n)
	}
}

// A run stopped part way through the other namespaces (here: killed) and
// then rolled back must move the tag back before it restarts them, or the
// restarted pods would come back on the new proxies.
func TestIstioCanaryTagsRollbackPartWayThroughNamespaces(t *testing.T) {
	w := newCanaryWorld(t)
	h := w.h
	run := w.runToGate()
	h.mustCairn(0, "approve", run, "canary-ok")
	kill := []string{"CAIRN_KILL_AFTER=4"} // about one instance per process
	for i := 0; ; i++ {
		if r := h.cairn(kill, "resume", run); r.code != -1 {
			t.Fatalf("resume: exit %d, want SIGKILL\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		restarted, verified := 0, 0
		for _, ev := range h.events(run) {
			switch {
			case ev["step"] == "rest-restart" && ev["type"] == "instance.succeeded":
				restarted++
			case ev["step"] == "rest-verify" && ev["type"] == "instance.succeeded":
				verified++
			}
		}
		if verified == len(w.apps)-1 {
			t.Fatalf("the kills never stopped the run part way through the other namespaces")
		}
		if restarted >= 1 {
			break
		}
		if i > 40 {
			t.Fatal("rest never started")
		}
	}
	h.mustCairn(0, "rollback", run)
	// Restarts return before their pods exist, so the pods alone cannot
	// show the order: the journal does. The tag moved back first.
	tagBack, restarts := -1, 0
	for i, ev := range h.events(run) {
		step, _ := ev["step"].(string)
		switch {
		case ev["type"] == "undo.succeeded" && strings.HasPrefix(step, "tag-rollback-point") && tagBack < 0:
			tagBack = i
		case ev["type"] == "undo.started" && (step == "rest-restart" || step == "rest-rollback-point"):
			restarts++
			if tagBack < 0 {
				t.Errorf("%s[%v] was restarted before the tag moved back", step, ev["item"])
			}
		}
	}
	if restarts != len(w.apps)-1 {
		t.Errorf("%d of the other namespaces were restarted by rollback, want %d", restarts, len(w.apps)-1)
	}
	w.assertTag(w.oldRev)
	for _, ns := range w.namespaces() {
		w.h.waitProxyTags(ns, oldVersion, 30*time.Second)
	}
	w.assertControlPlane(w.newRev, false)
}

// approveWaiting approves every gate instance the run waits at and says
// which (step[item]); none when the run is not waiting.
func (h *harness) approveWaiting(run string) []string {
	h.t.Helper()
	waiting := map[string][2]string{}
	for _, ev := range h.events(run) {
		step, _ := ev["step"].(string)
		item, _ := ev["item"].(string)
		key := step + "[" + item + "]"
		switch ev["type"] {
		case "gate.waiting":
			waiting[key] = [2]string{step, item}
		case "gate.approved":
			delete(waiting, key)
		}
	}
	var out []string
	for key, si := range waiting {
		args := []string{"approve", run, si[0]}
		if si[1] != "" {
			args = append(args, "--item", si[1])
		}
		h.mustCairn(0, args...)
		out = append(out, key)
	}
	return out
}

// The seed's own case: the "default" tag, moved from 1.13 to 1.14 with
// the 1.14 istioctl, which has no top-level uninstall (only `x
// uninstall`), and a namespace labelled istio-injection=enabled, which
// the default tag's webhook serves too: it must be restarted onto the new
// proxy before the old revision goes, or its pods would lose their
// control plane. With gateEachNamespace the run pauses after each other
// namespace.
func TestIstioCanaryTagsDefaultTagOn114(t *testing.T) {
	h := newHarness(t)
	const from, to = "1.13.9", "1.14.6"
	h.install("istio", from)
	h.install("istio", to)
	h.startInjector()
	suffix := kubetest.UniqueName("x", 8)[2:]
	w := &canaryWorld{h: h, oldRev: "1-13-9-" + suffix, newRev: "1-14-6-" + suffix, tag: "default",
		newIstioctl: filepath.Join(h.bins, "istio-"+to, "bin", "istioctl"),
		playbook:    filepath.Join(repoRoot, "playbooks", "builtin", "istio-canary-tags.yaml")}
	w.istioNS = h.env.Namespace(t, nil)
	t.Cleanup(w.cleanup)
	oldctl := filepath.Join("istio-"+from, "bin", "istioctl")
	h.tool(oldctl, "install", "--set", "values.global.istioNamespace="+w.istioNS, "--set", "profile=minimal", "--set", "revision="+w.oldRev, "-y")
	h.tool(oldctl, "tag", "set", "default", "--revision", w.oldRev, "-i", w.istioNS)
	rev := map[string]string{"istio.io/rev": "default"}
	w.gwNS = h.env.Namespace(t, rev)
	h.env.CreateIngressGateway(t, w.gwNS, from)
	for _, labels := range []map[string]string{rev, {"istio-injection": "enabled"}, rev} {
		ns := h.env.Namespace(t, labels)
		w.apps = append(w.apps, ns)
		h.env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", Replicas: 1, ProxyVersion: "0.0.0"})
	}
	for _, ns := range w.namespaces() {
		h.waitProxyTags(ns, from, 60*time.Second)
	}
	params := append(w.params(), "-p", "gateEachNamespace=true")
	params = withParam(params, "newVersion", to)
	r := h.mustCairn(0, append([]string{"run", w.playbook}, params...)...)
	run := runIDOf(t, r)
	var gates []string
	for i := 0; ; i++ {
		approved := h.approveWaiting(run)
		if len(approved) == 0 {
			break
		}
		gates = append(gates, approved...)
		h.mustCairn(0, "resume", run)
		if i > 10 {
			t.Fatalf("gates never end: %v", gates)
		}
	}
	if !hasEvent(h.events(run), "run.succeeded") {
		t.Fatalf("run did not succeed; gates approved %v", gates)
	}
	want := []string{"canary-ok[]", "rest-ok[" + w.apps[2] + "]", "rest-injection-ok[" + w.apps[1] + "]", "ready-to-uninstall-old[]"}
	if strings.Join(gates, " ") != strings.Join(want, " ") {
		t.Errorf("gates approved %v, want %v", gates, want)
	}
	w.assertTag(w.newRev)
	for _, ns := range w.namespaces() {
		h.waitProxyTags(ns, to, 30*time.Second)
	}
	w.assertControlPlane(w.oldRev, false)
	w.assertControlPlane(w.newRev, true)
	if n := h.fakeCalls("x", "uninstall", w.oldRev); n != 1 {
		t.Errorf("istioctl x uninstall --revision %s ran %d times, want 1", w.oldRev, n)
	}
	vwc, err := h.env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(bg(t), "istiod-default-validator", metav1.GetOptions{})
	if err != nil || vwc.Labels["istio.io/rev"] != w.newRev {
		t.Errorf("istiod-default-validator after the move: %v %v", err, vwc)
	}
}

// With a profile that installs istio-ingressgateway into the istio
// namespace, where one of the old revision runs, the install would take it
// over and `uninstall --revision NEWREV`, the rollback of a failed
// install, would prune it. Preflight refuses; the gateway stays.
func TestIstioCanaryTagsRefusesGatewayTakeover(t *testing.T) {
	h := newHarness(t)
	h.install("istio", oldVersion)
	h.install("istio", newVersion)
	suffix := kubetest.UniqueName("x", 8)[2:]
	w := &canaryWorld{h: h, oldRev: "1-14-6-" + suffix, newRev: "1-15-4-" + suffix, tag: "e2e-" + suffix, profile: "default",
		newIstioctl: filepath.Join(h.bins, "istio-"+newVersion, "bin", "istioctl"),
		playbook:    filepath.Join(repoRoot, "playbooks", "builtin", "istio-canary-tags.yaml")}
	w.istioNS = h.env.Namespace(t, nil)
	t.Cleanup(w.cleanup)
	oldctl := filepath.Join("istio-"+oldVersion, "bin", "istioctl")
	h.tool(oldctl, "install", "--set", "values.global.istioNamespace="+w.istioNS, "--set", "profile=default", "--set", "revision="+w.oldRev, "-y")
	h.tool(oldctl, "tag", "set", w.tag, "--revision", w.oldRev, "-i", w.istioNS)
	w.gwNS = h.env.Namespace(t, map[string]string{"istio.io/rev": w.tag})
	w.apps = []string{h.env.Namespace(t, map[string]string{"istio.io/rev": w.tag})}
	// The new istiod never becomes ready: the install fails after it has
	// applied everything.
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-more-pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}}}
	waitQuota(t, h, w.istioNS, quota)
	params := withParam(w.params(), "profile", "default")
	r := h.cairn([]string{"CAIRN_FAKE_READINESS_TIMEOUT=3s"}, append([]string{"run", w.playbook}, params...)...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "no-gateway-takeover") {
		t.Fatalf("run with a gateway to take over: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	h.mustCairn(0, "rollback", runIDOf(t, r))
	gw, err := h.env.Clientset.AppsV1().Deployments(w.istioNS).Get(bg(t), "istio-ingressgateway", metav1.GetOptions{})
	if err != nil || gw.Labels["istio.io/rev"] != w.oldRev {
		t.Errorf("the old revision's gateway after rollback: %v (labels %v)", err, gw.Labels)
	}
	if n := h.fakeCalls("install", "revision="+w.newRev); n != 0 {
		t.Errorf("istioctl install ran %d times", n)
	}
}

// waitQuota creates quota in ns and waits until the controller has counted
// its usage: admission enforces it only then.
func waitQuota(t *testing.T, h *harness, ns string, quota *corev1.ResourceQuota) {
	t.Helper()
	api := h.env.Clientset.CoreV1().ResourceQuotas(ns)
	if _, err := api.Create(bg(t), quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		q, err := api.Get(bg(t), quota.Name, metav1.GetOptions{})
		if err == nil && q.Status.Used != nil {
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("quota never counted: %v", err)
		}
	}
}
