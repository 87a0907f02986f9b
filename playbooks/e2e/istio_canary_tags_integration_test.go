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
	h.tool(oldctl, "install", "-i", w.istioNS, "--set", "profile=minimal", "--set", "revision="+w.oldRev, "-y")
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

// cleanup removes the cluster-scoped leftovers of both revisions and the tag.
func (w *canaryWorld) cleanup() {
	for _, rev := range []string{w.newRev, w.oldRev} {
		_, _ = w.h.toolErr("istioctl", "uninstall", "-i", w.istioNS, "--revision", rev, "-y", "--purge")
	}
	c := bg(w.h.t)
	api := w.h.env.Clientset.AdmissionregistrationV1()
	for _, name := range []string{"istio-revision-tag-" + w.tag, "istio-sidecar-injector-" + w.oldRev, "istio-sidecar-injector-" + w.newRev} {
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
	mwc, err := w.h.env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(bg(t), "istio-revision-tag-"+w.tag, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("tag webhook: %v", err)
	}
	if got := mwc.Labels["istio.io/rev"]; got != rev {
		t.Errorf("tag webhook istio.io/rev = %q, want %q", got, rev)
	}
	for _, wh := range mwc.Webhooks {
		if s := wh.ClientConfig.Service; s == nil || s.Name != "istiod-"+rev {
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
	_, e3 := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector-"+rev, metav1.GetOptions{})
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
		if !strings.HasPrefix(step, "rest-") || step == "rest-rollback-point" {
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
	for _, k := range []int{4, 5} {
		t.Run(fmt.Sprintf("kill-after-%d", k), func(t *testing.T) {
			w := newCanaryWorld(t)
			run := w.h.runWithCrashes(k, w.playbook, w.params(), "canary-ok")
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
	api := h.env.Clientset.CoreV1().ResourceQuotas(w.istioNS)
	if _, err := api.Create(bg(t), quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Admission enforces a quota only once the controller has counted usage.
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		q, err := api.Get(bg(t), quota.Name, metav1.GetOptions{})
		if err == nil && q.Status.Used != nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("quota never counted: %v", err)
		}
	}
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
