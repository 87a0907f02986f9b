//go:build integration

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// revSpec is one starting point of procedure A (seeds 000 and 001).
type revSpec struct {
	oldRev, oldVersion string // oldRev "default": a plain istiod, no revision
	newRev, newVersion string
	// appLabels are the injection labels of the app namespaces, canary first.
	appLabels []map[string]string
}

var (
	// Seed 000: a revisioned 1.7.3 control plane -> 1.8.3.
	revFrom173 = revSpec{oldRev: "asm-173-6", oldVersion: "1.7.3-asm.6", newRev: "asm-183-2", newVersion: "1.8.3-asm.2",
		appLabels: []map[string]string{{"istio.io/rev": "asm-173-6"}, {"istio.io/rev": "asm-173-6"}, {"istio.io/rev": "asm-173-6"}}}
	// Seed 000's example: a plain istiod (istio.io/rev=default) -> 1.8.3.
	revFromPlain173 = revSpec{oldRev: "default", oldVersion: "1.7.3-asm.6", newRev: "asm-183-2", newVersion: "1.8.3-asm.2",
		appLabels: []map[string]string{{"istio-injection": "enabled"}, {"istio.io/rev": "default"}, {"istio-injection": "enabled"}}}
	// Seed 001: a plain 1.5 control plane -> 1.6.14, 1.5 files kept. 1.5's
	// only injection webhook selects istio-injection=enabled.
	revFrom15 = revSpec{oldRev: "default", oldVersion: "1.5.10-asm.2", newRev: "asm-1614-2", newVersion: "1.6.14-asm.2",
		appLabels: []map[string]string{{"istio-injection": "enabled"}, {"istio-injection": "enabled"}, {"istio-injection": "enabled"}}}
)

var iopResource = schema.GroupVersionResource{Group: "install.istio.io", Version: "v1alpha1", Resource: "istiooperators"}

// revWorld is the BEFORE state: the old control plane installed by the old
// istioctl double into a namespace of its own (with the asm-multicloud
// profile's ingress gateway), app namespaces whose pods the injector gave
// old proxies, a signed package of the new release and its key.
type revWorld struct {
	h        *harness
	spec     revSpec
	istioNS  string
	apps     []string // apps[0] is the canary
	oldDir   string   // the old release's files (OLDDIR/bin/istioctl)
	keyDir   string   // key.pem, pub.pem
	pkgURL   string   // file:// URL of the signed new package
	workDir  string
	playbook string
}

func newRevWorld(t *testing.T, spec revSpec) *revWorld {
	h := newHarness(t)
	h.install("istio", spec.oldVersion)
	h.startInjector()
	w := &revWorld{h: h, spec: spec, keyDir: filepath.Join(h.dir, "keys"), workDir: filepath.Join(h.dir, "work"),
		oldDir:   filepath.Join(h.bins, "istio-"+spec.oldVersion),
		playbook: filepath.Join(repoRoot, "playbooks", "builtin", "asm-revision-upgrade.yaml")}
	w.istioNS = h.env.Namespace(t, nil)
	t.Cleanup(w.cleanup)
	// install has no namespace flag (values.global.istioNamespace); 1.5
	// has no install at all, only manifest apply.
	args := []string{"install", "--set", "values.global.istioNamespace=" + w.istioNS, "--set", "profile=asm-multicloud", "-y"}
	if v := spec.oldVersion; strings.HasPrefix(v, "1.5.") {
		args = append([]string{"manifest", "apply"}, args[1:]...)
	}
	if spec.oldRev != "default" {
		args = append(args, "--set", "revision="+spec.oldRev)
	}
	h.tool(filepath.Join("istio-"+spec.oldVersion, "bin", "istioctl"), args...)
	w.genKey()
	w.pkgURL = w.makePackage("pkg", spec.newVersion, spec.newVersion)
	for _, labels := range spec.appLabels {
		ns := h.env.Namespace(t, labels)
		w.apps = append(w.apps, ns)
		h.env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", Replicas: 2, ProxyVersion: "0.0.0"})
	}
	for _, ns := range w.proxied() {
		h.waitProxyTags(ns, spec.oldVersion, 60*time.Second)
	}
	return w
}

// proxied are the namespaces with istio-proxy pods: the gateway's and the apps.
func (w *revWorld) proxied() []string { return append([]string{w.istioNS}, w.apps...) }

func (w *revWorld) params() []string {
	p := []string{
		"-p", "packageUrl=" + w.pkgURL,
		"-p", "publicKey=" + filepath.Join(w.keyDir, "pub.pem"),
		"-p", "workDir=" + w.workDir,
		"-p", "istioNamespace=" + w.istioNS,
		"-p", "gatewayNamespace=" + w.istioNS,
		"-p", "oldRev=" + w.spec.oldRev,
		"-p", "oldVersion=" + w.spec.oldVersion,
		"-p", "newRev=" + w.spec.newRev,
		"-p", "newVersion=" + w.spec.newVersion,
		"-p", "canaryNamespace=" + w.apps[0],
		"-p", "namespaces=" + strings.Join(w.apps[1:], ","),
	}
	return p
}

// withParam returns params with name set to value (replaced or added).
func withParam(params []string, name, value string) []string {
	out := append([]string(nil), params...)
	for i, p := range out {
		if strings.HasPrefix(p, name+"=") {
			out[i] = name + "=" + value
			return out
		}
	}
	return append(out, "-p", name+"="+value)
}

func (w *revWorld) openssl(args ...string) {
	w.h.t.Helper()
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		w.h.t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

// genKey makes an EC P-256 key pair, the kind of the seeds' Google key.
func (w *revWorld) genKey() {
	if err := os.MkdirAll(w.keyDir, 0o755); err != nil {
		w.h.t.Fatal(err)
	}
	key := filepath.Join(w.keyDir, "key.pem")
	w.openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
	w.openssl("ec", "-in", key, "-pubout", "-out", filepath.Join(w.keyDir, "pub.pem"))
}

// makePackage builds a release tarball istio-VERSION/bin/istioctl (a link to
// the istioctl double that reports clientVersion) under a directory of its
// own named name, signs it with the world's key (FILE.1.sig) and returns its
// file:// URL.
func (w *revWorld) makePackage(name, version, clientVersion string) string {
	t := w.h.t
	t.Helper()
	src := filepath.Join(w.h.dir, "pkgsrc-"+name)
	bin := filepath.Join(src, "istio-"+version, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(w.h.bins, "fakebins"), filepath.Join(bin, "istioctl")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "fake-version"), []byte(clientVersion+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(w.h.dir, "pkg-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "istio-"+version+"-linux-amd64.tar.gz")
	if out, err := exec.Command("tar", "czf", file, "-C", src, "istio-"+version).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	w.openssl("dgst", "-sha256", "-sign", filepath.Join(w.keyDir, "key.pem"), "-out", file+".1.sig", file)
	return "file://" + file
}

// cleanup removes the cluster-scoped objects of both control planes and the
// binding; the namespaces go with the test.
func (w *revWorld) cleanup() {
	for _, rev := range []string{w.spec.newRev, w.spec.oldRev} {
		_, _ = w.h.toolErr("istioctl", "uninstall", "--istioNamespace", w.istioNS, "--revision", rev, "-y", "--purge")
	}
	c := bg(w.h.t)
	adm := w.h.env.Clientset.AdmissionregistrationV1()
	for _, rev := range []string{w.spec.newRev, w.spec.oldRev} {
		_ = adm.MutatingWebhookConfigurations().Delete(c, w.injector(rev), metav1.DeleteOptions{})
	}
	_ = adm.ValidatingWebhookConfigurations().Delete(c, "istiod-"+w.istioNS, metav1.DeleteOptions{})
	_ = w.h.env.Clientset.RbacV1().ClusterRoleBindings().Delete(c, "cluster-admin-binding", metav1.DeleteOptions{})
}

// injector is revision rev's injector: named -NS outside istio-system.
func (w *revWorld) injector(rev string) string {
	return "istio-sidecar-injector" + revSuffix(rev) + "-" + w.istioNS
}

func revSuffix(rev string) string {
	if rev == "default" {
		return ""
	}
	return "-" + rev
}

func (w *revWorld) nsLabels(ns string) map[string]string {
	w.h.t.Helper()
	got, err := w.h.env.Clientset.CoreV1().Namespaces().Get(bg(w.h.t), ns, metav1.GetOptions{})
	if err != nil {
		w.h.t.Fatal(err)
	}
	return got.Labels
}

// assertInjectionLabels checks istio-injection and istio.io/rev of each app
// namespace: want[i] exactly (absent keys must be absent).
func (w *revWorld) assertInjectionLabels(want []map[string]string) {
	t := w.h.t
	t.Helper()
	for i, ns := range w.apps {
		got := w.nsLabels(ns)
		for _, k := range []string{"istio-injection", "istio.io/rev"} {
			gv, gok := got[k]
			wv, wok := want[i][k]
			if gv != wv || gok != wok {
				t.Errorf("namespace %s: label %s = %q (present %v), want %q (present %v)", ns, k, gv, gok, wv, wok)
			}
		}
	}
}

func (w *revWorld) newLabels() []map[string]string {
	var out []map[string]string
	for range w.apps {
		out = append(out, map[string]string{"istio.io/rev": w.spec.newRev})
	}
	return out
}

// waitApps waits until every app pod runs proxy version and was injected
// by revision rev (the sidecar.istio.io/status annotation's revision:
// injection does not label sidecar pods with it).
func (w *revWorld) waitApps(nss []string, version, rev string) {
	t := w.h.t
	t.Helper()
	for _, ns := range nss {
		w.h.waitProxyTags(ns, version, 30*time.Second)
		pods, err := w.h.env.Clientset.CoreV1().Pods(ns).List(bg(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			var st struct {
				Revision string `json:"revision"`
			}
			_ = json.Unmarshal([]byte(p.Annotations["sidecar.istio.io/status"]), &st)
			if p.DeletionTimestamp == nil && st.Revision != rev {
				t.Errorf("pod %s/%s: injected by %q, want %q", ns, p.Name, st.Revision, rev)
			}
		}
	}
}

// controlPlane reports which of revision rev's objects exist:
// Deployment, Service, HPA, PDB istiod[-rev], IstioOperator installed-state[-rev].
func (w *revWorld) controlPlane(rev string) map[string]bool {
	t := w.h.t
	t.Helper()
	c, cs, ns, name := bg(t), w.h.env.Clientset, w.istioNS, "istiod"+revSuffix(rev)
	errs := map[string]error{}
	_, errs["Deployment"] = cs.AppsV1().Deployments(ns).Get(c, name, metav1.GetOptions{})
	_, errs["Service"] = cs.CoreV1().Services(ns).Get(c, name, metav1.GetOptions{})
	_, errs["HorizontalPodAutoscaler"] = cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(c, name, metav1.GetOptions{})
	_, errs["PodDisruptionBudget"] = cs.PolicyV1().PodDisruptionBudgets(ns).Get(c, name, metav1.GetOptions{})
	_, errs["IstioOperator"] = w.h.env.Dynamic.Resource(iopResource).Namespace(ns).Get(c, "installed-state"+revSuffix(rev), metav1.GetOptions{})
	_, errs["MutatingWebhookConfiguration"] = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, w.injector(rev), metav1.GetOptions{})
	got := map[string]bool{}
	for kind, err := range errs {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("%s of %s: %v", kind, rev, err)
		}
		got[kind] = err == nil
	}
	return got
}

// assertControlPlane checks that the kinds are all present (or all absent).
func (w *revWorld) assertControlPlane(rev string, present bool, kinds ...string) {
	w.h.t.Helper()
	got := w.controlPlane(rev)
	for _, k := range kinds {
		if got[k] != present {
			w.h.t.Errorf("revision %s: %s present=%v, want %v", rev, k, got[k], present)
		}
	}
}

var (
	revCoreKinds = []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "IstioOperator"}
	// Up to 1.10 validation is the base chart's one webhook, istiod-NS,
	// shared by every revision: none of its own.
	revWebhookKinds = []string{"MutatingWebhookConfiguration"}
	revAllCPKinds   = append(append([]string(nil), revCoreKinds...), revWebhookKinds...)
)

// istiodVersion is the discovery image tag of istiod[-rev].
func (w *revWorld) istiodVersion(rev string) string {
	t := w.h.t
	t.Helper()
	d, err := w.h.env.Clientset.AppsV1().Deployments(w.istioNS).Get(bg(t), "istiod"+revSuffix(rev), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("istiod of %s: %v", rev, err)
	}
	img := d.Spec.Template.Spec.Containers[0].Image
	return img[strings.LastIndex(img, ":")+1:]
}

// assertAfter is the state after a finished run.
func (w *revWorld) assertAfter() {
	w.h.t.Helper()
	w.assertInjectionLabels(w.newLabels())
	w.waitApps(w.apps, w.spec.newVersion, w.spec.newRev)
	w.h.waitProxyTags(w.istioNS, w.spec.newVersion, 30*time.Second)
	w.assertControlPlane(w.spec.newRev, true, revAllCPKinds...)
	if w.spec.oldRev != "default" {
		w.assertControlPlane(w.spec.oldRev, false, revCoreKinds...)
		return
	}
	// The plain istiod is gone, but Service istiod stays, on the new
	// revision: the base chart's validating webhook istiod-NS calls it.
	w.assertControlPlane(w.spec.oldRev, false, "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "IstioOperator")
	t := w.h.t
	svc, err := w.h.env.Clientset.CoreV1().Services(w.istioNS).Get(bg(t), "istiod", metav1.GetOptions{})
	if err != nil {
		t.Errorf("Service istiod after the finish: %v", err)
	} else if svc.Spec.Selector["istio.io/rev"] != w.spec.newRev {
		t.Errorf("Service istiod selects %v after the finish, want %s", svc.Spec.Selector, w.spec.newRev)
	}
	vwc, err := w.h.env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(bg(t), "istiod-"+w.istioNS, metav1.GetOptions{})
	if err != nil || len(vwc.Webhooks) == 0 || vwc.Webhooks[0].ClientConfig.Service == nil || vwc.Webhooks[0].ClientConfig.Service.Name != "istiod" {
		t.Errorf("validating webhook istiod-%s: %v", w.istioNS, err)
	}
}

// assertBefore is the state a rollback must return to.
func (w *revWorld) assertBefore() {
	w.h.t.Helper()
	w.assertInjectionLabels(w.spec.appLabels)
	w.waitApps(w.apps, w.spec.oldVersion, w.spec.oldRev)
	w.h.waitProxyTags(w.istioNS, w.spec.oldVersion, 30*time.Second)
	w.assertControlPlane(w.spec.newRev, false, revAllCPKinds...)
	w.assertControlPlane(w.spec.oldRev, true, revCoreKinds...)
	if v := w.istiodVersion(w.spec.oldRev); v != w.spec.oldVersion {
		w.h.t.Errorf("old istiod runs %s, want %s", v, w.spec.oldVersion)
	}
}
