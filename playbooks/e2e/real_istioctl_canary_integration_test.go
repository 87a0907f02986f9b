//go:build integration

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// realCanaryWorld is procedure B's BEFORE state made by the real istioctl:
// revision OLDREV installed first, so istioctl also created the default tag
// pointing at it (operator/pkg/webhook detectIfTagWebhookIsNeeded); a
// gateway and app namespaces use the default tag (istio.io/rev=default, and
// one istio-injection=enabled, which the default tag serves too), every pod
// injected by the stand-in with proxyv2:realOldVersion.
type realCanaryWorld struct {
	*realWorld
	gwNS string
	apps []string // apps[0] is the canary, apps[1] is labelled istio-injection=enabled
}

func newRealCanaryWorld(t *testing.T) *realCanaryWorld {
	suffix := kubetest.UniqueName("x", 8)[2:]
	w := &realCanaryWorld{realWorld: newRealWorld(t, "1-30-2-"+suffix, "1-31-"+suffix, "minimal")}
	h := w.h
	w.assertTag(w.oldRev) // made by the install
	rev := map[string]string{"istio.io/rev": "default"}
	w.gwNS = h.env.Namespace(t, rev)
	h.env.CreateIngressGateway(t, w.gwNS, "0.0.0")
	for _, labels := range []map[string]string{rev, {"istio-injection": "enabled"}, rev} {
		ns := h.env.Namespace(t, labels)
		w.apps = append(w.apps, ns)
		h.env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", Replicas: 2, ProxyVersion: "0.0.0"})
	}
	for _, ns := range w.namespaces() {
		h.waitProxyTags(ns, realOldVersion, 60*time.Second)
	}
	return w
}

func (w *realCanaryWorld) namespaces() []string { return append([]string{w.gwNS}, w.apps...) }

func (w *realCanaryWorld) params() []string {
	return []string{
		"-p", "istioctl=" + w.istioctl,
		"-p", "istioNamespace=" + w.istioNS,
		"-p", "oldRev=" + w.oldRev,
		"-p", "newRev=" + w.newRev,
		"-p", "newVersion=" + w.version,
		"-p", "profile=minimal",
		"-p", "tag=default",
		"-p", "gatewayNamespace=" + w.gwNS,
		"-p", "canaryNamespace=" + w.apps[0],
	}
}

// assertTag checks the default tag's webhook, as istioctl names it outside
// istio-system, against revision rev.
func (w *realCanaryWorld) assertTag(rev string) {
	t := w.h.t
	t.Helper()
	name := "istio-revision-tag-default" + w.suffix()
	mwc, err := w.h.env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(bg(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("tag webhook: %v", err)
	}
	if mwc.Labels["istio.io/rev"] != rev || mwc.Labels["istio.io/tag"] != "default" {
		t.Errorf("%s: labels %v, want istio.io/rev=%s istio.io/tag=default", name, mwc.Labels, rev)
	}
	for _, wh := range mwc.Webhooks {
		if s := wh.ClientConfig.Service; s == nil || s.Name != "istiod-"+rev || s.Namespace != w.istioNS {
			t.Errorf("%s: webhook %s calls %+v, want %s/istiod-%s", name, wh.Name, s, w.istioNS, rev)
		}
	}
}

// assertControlPlane checks revision rev's Deployment, Service and
// injector webhook: all present, or all gone. istioctl uninstall deletes in
// the foreground, so gone may take until the pods are.
func (w *realCanaryWorld) assertControlPlane(rev string, present bool) {
	t := w.h.t
	t.Helper()
	c, cs := bg(t), w.h.env.Clientset
	var bad []string
	for start := time.Now(); time.Since(start) < 60*time.Second; time.Sleep(200 * time.Millisecond) {
		_, e1 := cs.AppsV1().Deployments(w.istioNS).Get(c, "istiod-"+rev, metav1.GetOptions{})
		_, e2 := cs.CoreV1().Services(w.istioNS).Get(c, "istiod-"+rev, metav1.GetOptions{})
		_, e3 := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector-"+rev+w.suffix(), metav1.GetOptions{})
		bad = bad[:0]
		for i, err := range []error{e1, e2, e3} {
			what := []string{"Deployment", "Service", "injector webhook"}[i]
			switch {
			case present && err != nil:
				bad = append(bad, fmt.Sprintf("%s: %v", what, err))
			case !present && !apierrors.IsNotFound(err):
				bad = append(bad, fmt.Sprintf("%s still present (err %v)", what, err))
			}
		}
		if len(bad) == 0 || present {
			break
		}
	}
	for _, b := range bad {
		t.Errorf("revision %s: %s", rev, b)
	}
}

func (w *realCanaryWorld) playbook() string {
	return filepath.Join(repoRoot, "playbooks", "builtin", "istio-canary-tags.yaml")
}

// runToGate runs to the canary gate: the tag moved, the gateway and the
// canary on the new proxies, the rest untouched.
func (w *realCanaryWorld) runToGate() string {
	t := w.h.t
	t.Helper()
	r := w.h.mustCairn(0, append([]string{"run", w.playbook()}, w.params()...)...)
	w.assertAtCanaryGate()
	return runIDOf(t, r)
}

// assertAtCanaryGate checks the cluster as a run left it at the canary
// gate: the tag moved, the gateway and the canary on the new proxies, the
// rest untouched, both control planes there.
func (w *realCanaryWorld) assertAtCanaryGate() {
	w.h.t.Helper()
	w.assertTag(w.newRev)
	w.h.waitProxyTags(w.gwNS, w.version, 30*time.Second)
	w.h.waitProxyTags(w.apps[0], w.version, 30*time.Second)
	for _, ns := range w.apps[1:] {
		w.h.waitProxyTags(ns, realOldVersion, 5*time.Second)
	}
	w.assertControlPlane(w.oldRev, true)
	w.assertControlPlane(w.newRev, true)
}

// TestRealIstioctlCanaryTags: istio-canary-tags moves the default tag from
// a 1.30.2 revision to the real istioctl's own version, every command of
// the playbook run by the real istioctl, to the end.
func TestRealIstioctlCanaryTags(t *testing.T) {
	w := newRealCanaryWorld(t)
	h := w.h
	run := w.runToGate()
	h.mustCairn(0, "approve", run, "canary-ok")
	h.mustCairn(0, "resume", run)
	// Paused before the irreversible uninstall: every namespace moved, the
	// old control plane still there.
	for _, ns := range w.namespaces() {
		h.waitProxyTags(ns, w.version, 30*time.Second)
	}
	w.assertControlPlane(w.oldRev, true)
	h.mustCairn(0, "approve", run, "ready-to-uninstall-old")
	h.mustCairn(0, "resume", run)
	if !hasEvent(h.events(run), "run.succeeded") {
		t.Fatalf("run %s did not succeed", run)
	}
	w.assertTag(w.newRev)
	for _, ns := range w.namespaces() {
		h.waitProxyTags(ns, w.version, 30*time.Second)
	}
	w.assertControlPlane(w.oldRev, false)
	w.assertControlPlane(w.newRev, true)
	// What istioctl itself reports: the default tag on the new revision.
	if out := w.real("tag", "list", "-i", w.istioNS); !hasRowPrefix(out, "default", w.newRev) {
		t.Errorf("tag list after the run: want a row `default %s ...`:\n%s", w.newRev, out)
	}
	// The validator of untagged config moved with the default tag.
	vwc, err := h.env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(bg(t), "istiod-default-validator", metav1.GetOptions{})
	if err != nil || vwc.Labels["istio.io/rev"] != w.newRev {
		t.Errorf("istiod-default-validator after the move: %v (labels %v)", err, vwc.Labels)
	}
	// A new pod in a namespace of the tag is injected by the new revision.
	h.env.CreateWorkload(t, w.apps[2], kubetest.Workload{Name: "late", ProxyVersion: "0.0.0"})
	h.waitProxyTags(w.apps[2], w.version, 30*time.Second)
	h.mustCairn(0, "journal", "verify")
}

// TestRealIstioctlCanaryTagsRollback: rollback at the canary gate moves the
// default tag back, restarts the gateway and the canary onto the old
// proxies and removes the new revision with the real `uninstall --revision`.
func TestRealIstioctlCanaryTagsRollback(t *testing.T) {
	w := newRealCanaryWorld(t)
	run := w.runToGate()
	w.h.mustCairn(0, "rollback", run)
	w.assertTag(w.oldRev)
	w.assertControlPlane(w.newRev, false)
	w.assertControlPlane(w.oldRev, true)
	for _, ns := range w.namespaces() {
		w.h.waitProxyTags(ns, realOldVersion, 30*time.Second)
	}
	w.h.mustCairn(0, "journal", "verify")
}

// hasRowPrefix reports whether a line of a table starts with these fields.
func hasRowPrefix(table string, fields ...string) bool {
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) >= len(fields) && strings.Join(f[:len(fields)], " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
