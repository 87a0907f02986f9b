//go:build integration

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// asmcli installs into istio-system with revision names fixed by its
// release, and the tag is "default": these tests use cluster-wide names,
// run serially, and remove both revisions and the tag when they end.
const (
	asmOldRelease, asmOldRev = "1.13.0-asm.0", "asm-1130-0"
	asmNewRelease, asmNewRev = "1.14.0-asm.0", "asm-1140-0"
)

type asmWorld struct {
	h            *harness
	gwNS         string
	apps         []string // apps[0] uses istio-injection=enabled, the others istio.io/rev=OLD
	overlay, out string
	newAsmcli    string
	playbook     string
}

func newAsmWorld(t *testing.T) *asmWorld {
	h := newHarness(t)
	h.install()
	h.install("asmcli", asmOldRelease)
	h.install("asmcli", asmNewRelease)
	h.startInjector()
	w := &asmWorld{h: h, out: filepath.Join(h.dir, "out"), overlay: filepath.Join(h.dir, "overlay.yaml"),
		newAsmcli: filepath.Join(h.bins, "asmcli_1140-0"),
		playbook:  filepath.Join(repoRoot, "playbooks", "builtin", "asm-asmcli-canary.yaml")}
	if err := os.WriteFile(w.overlay, []byte("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.cleanup)
	h.tool("asmcli_1130-0", "install", "--kubeconfig", h.env.Kubeconfig, "--platform", "multicloud", "--fleet_id", "fleet",
		"--output_dir", filepath.Join(h.dir, "out-old"), "--enable_all", "--ca", "mesh_ca", "--custom_overlay", w.overlay)
	h.tool("istioctl", "tag", "set", "default", "--revision", asmOldRev, "--overwrite")
	w.gwNS = h.env.Namespace(t, map[string]string{"istio.io/rev": asmOldRev})
	h.env.CreateIngressGateway(t, w.gwNS, "0.0.0")
	for _, labels := range []map[string]string{{"istio-injection": "enabled"}, {"istio.io/rev": asmOldRev}} {
		ns := h.env.Namespace(t, labels)
		w.apps = append(w.apps, ns)
		h.env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", Replicas: 2, ProxyVersion: "0.0.0"})
	}
	for _, ns := range w.namespaces() {
		h.waitProxyTags(ns, asmOldRelease, 60*time.Second)
	}
	return w
}

func (w *asmWorld) namespaces() []string { return append([]string{w.gwNS}, w.apps...) }

func (w *asmWorld) cleanup() {
	for _, rev := range []string{asmNewRev, asmOldRev} {
		_, _ = w.h.toolErr("istioctl", "uninstall", "--revision", rev, "-y", "--purge")
	}
	c := bg(w.h.t)
	cs := w.h.env.Clientset
	_ = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(c, "istio-revision-tag-default", metav1.DeleteOptions{})
	_ = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(c, "istiod-default-validator", metav1.DeleteOptions{})
	_ = cs.CoreV1().Services("istio-system").Delete(c, "istiod", metav1.DeleteOptions{})
}

func (w *asmWorld) params() []string {
	return []string{
		"-p", "asmcli=" + w.newAsmcli,
		"-p", "fleetId=fleet",
		"-p", "outputDir=" + w.out,
		"-p", "customOverlay=" + w.overlay,
		"-p", "oldRev=" + asmOldRev,
		"-p", "newRev=" + asmNewRev,
		"-p", "newVersion=" + asmNewRelease,
		"-p", "gatewayNamespace=" + w.gwNS,
		"-p", "namespaces=" + w.apps[0] + "," + w.apps[1],
	}
}

func (w *asmWorld) nsLabels(ns string) map[string]string {
	got, err := w.h.env.Clientset.CoreV1().Namespaces().Get(bg(w.h.t), ns, metav1.GetOptions{})
	if err != nil {
		w.h.t.Fatal(err)
	}
	return got.Labels
}

func (w *asmWorld) tagRev() string {
	mwc, err := w.h.env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(bg(w.h.t), "istio-revision-tag-default", metav1.GetOptions{})
	if err != nil {
		w.h.t.Fatal(err)
	}
	return mwc.Labels["istio.io/rev"]
}

func (w *asmWorld) istiodExists(rev string) bool {
	_, err := w.h.env.Clientset.AppsV1().Deployments("istio-system").Get(bg(w.h.t), "istiod-"+rev, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		w.h.t.Fatal(err)
	}
	return err == nil
}

func (w *asmWorld) runToGate() string {
	r := w.h.mustCairn(0, append([]string{"run", w.playbook}, w.params()...)...)
	run := runIDOf(w.h.t, r)
	for _, ns := range w.namespaces() {
		if l := w.nsLabels(ns); l["istio.io/rev"] != asmNewRev || l["istio-injection"] != "" {
			w.h.t.Errorf("namespace %s labels %v at the gate", ns, l)
		}
		w.h.waitProxyTags(ns, asmNewRelease, 30*time.Second)
	}
	if got := w.tagRev(); got != asmNewRev {
		w.h.t.Errorf("tag default on %q at the gate", got)
	}
	return run
}

func TestAsmcliCanaryUpgrade(t *testing.T) {
	w := newAsmWorld(t)
	run := w.runToGate()
	w.h.mustCairn(0, "approve", run, "ready-to-remove-old")
	w.h.mustCairn(0, "resume", run)
	if w.istiodExists(asmOldRev) || !w.istiodExists(asmNewRev) {
		t.Errorf("istiod %s present %v, %s present %v", asmOldRev, w.istiodExists(asmOldRev), asmNewRev, w.istiodExists(asmNewRev))
	}
	_, err := w.h.env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(bg(t), "istio-validator-"+asmOldRev+"-istio-system", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("old validator: %v", err)
	}
	svc, err := w.h.env.Clientset.CoreV1().Services("istio-system").Get(bg(t), "istiod", metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["istio.io/rev"] != asmNewRev {
		t.Errorf("istiod Service: %v %v", err, svc)
	}
	if n := w.h.fakeCalls("install"); n != 1 {
		t.Errorf("asmcli install ran %d times, want 1", n)
	}
	// asmcli installed into the run's cluster: the kubeconfig cairn wrote
	// for it and its context, not the user's kubeconfig.
	ctx := w.h.currentContext(w.h.env.Kubeconfig)
	if n := w.h.fakeCalls(w.newAsmcli, "install", "--context", ctx); n != 1 {
		t.Errorf("asmcli install --context %s ran %d times, want 1", ctx, n)
	}
	if n := w.h.fakeCalls(w.newAsmcli, "--kubeconfig", w.h.env.Kubeconfig); n != 0 {
		t.Errorf("asmcli got the user's kubeconfig %d times, want the run's", n)
	}
	// Each app namespace was relabelled, checked, restarted and verified
	// before the next one was relabelled.
	if items := w.h.assertItemByItem(run, "relabel-app", "app-verify-labels", "app-restart", "app-verify"); len(items) != len(w.apps) {
		t.Errorf("app namespaces moved: %v, want %v", items, w.apps)
	}
	// asmcli made Service istiod with a client-side kubectl apply; cairn
	// took its selector over and journaled the diff first.
	diffSeen := false
	for _, ev := range w.h.events(run) {
		if e, _ := ev["evidence"].(string); ev["step"] == "istiod-service" && ev["type"] == "instance.succeeded" {
			diffSeen = strings.Contains(e, "-    istio.io/rev: "+asmOldRev) && strings.Contains(e, "+    istio.io/rev: "+asmNewRev)
			if !diffSeen {
				t.Errorf("istiod-service evidence without the diff:\n%s", e)
			}
		}
	}
	if !diffSeen {
		t.Error("istiod-service never succeeded")
	}
	if svc != nil && svc.Annotations["kubectl.kubernetes.io/last-applied-configuration"] == "" {
		t.Error("the istiod Service lost the client-side apply annotation asmcli gave it")
	}
	// The old revision is gone: rollback refuses rather than move the
	// namespaces and the tag back onto it, and changes nothing.
	w.h.assertPastNoReturn(run, "ready-to-remove-old", "delete-old-control-plane")
	for _, ns := range w.namespaces() {
		if l := w.nsLabels(ns); l["istio.io/rev"] != asmNewRev {
			t.Errorf("namespace %s labels %v after the refused rollback", ns, l)
		}
	}
	if got := w.tagRev(); got != asmNewRev || !w.istiodExists(asmNewRev) {
		t.Errorf("after the refused rollback: tag default on %q, istiod %s present %v", got, asmNewRev, w.istiodExists(asmNewRev))
	}
}

func TestAsmcliCanaryRollback(t *testing.T) {
	w := newAsmWorld(t)
	run := w.runToGate()
	w.h.mustCairn(0, "rollback", run)
	if l := w.nsLabels(w.apps[0]); l["istio-injection"] != "enabled" || l["istio.io/rev"] != "" {
		t.Errorf("namespace %s labels %v after rollback, want istio-injection=enabled back", w.apps[0], l)
	}
	for _, ns := range []string{w.gwNS, w.apps[1]} {
		if l := w.nsLabels(ns); l["istio.io/rev"] != asmOldRev {
			t.Errorf("namespace %s labels %v after rollback", ns, l)
		}
	}
	if got := w.tagRev(); got != asmOldRev {
		t.Errorf("tag default on %q after rollback", got)
	}
	if w.istiodExists(asmNewRev) || !w.istiodExists(asmOldRev) {
		t.Errorf("after rollback istiod %s present %v, %s present %v", asmNewRev, w.istiodExists(asmNewRev), asmOldRev, w.istiodExists(asmOldRev))
	}
	for _, ns := range w.namespaces() {
		w.h.waitProxyTags(ns, asmOldRelease, 30*time.Second)
	}
}

// TestAsmcliCanaryCrashes: see TestIstioCanaryTagsCrashes.
func TestAsmcliCanaryCrashes(t *testing.T) {
	for _, k := range crashEvery {
		t.Run(fmt.Sprintf("kill-after-%d", k), func(t *testing.T) {
			w := newAsmWorld(t)
			run := w.h.runWithCrashes(k, w.playbook, w.params(), "ready-to-remove-old")
			w.h.assertNoRerun(run)
			if w.istiodExists(asmOldRev) || !w.istiodExists(asmNewRev) {
				t.Errorf("istiod %s present %v, %s present %v", asmOldRev, w.istiodExists(asmOldRev), asmNewRev, w.istiodExists(asmNewRev))
			}
			if got := w.tagRev(); got != asmNewRev {
				t.Errorf("tag default on %q", got)
			}
			for _, ns := range w.namespaces() {
				w.h.waitProxyTags(ns, asmNewRelease, 30*time.Second)
				for dep, n := range w.h.replicaSets(ns) {
					if n != 2 {
						t.Errorf("%s/%s has %d ReplicaSets, want 2 (exactly one restart)", ns, dep, n)
					}
				}
			}
			if n := w.h.fakeCalls("install"); n != 1 {
				t.Errorf("asmcli install ran %d times, want 1", n)
			}
		})
	}
}
