//go:build integration

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// realPackage builds the signed release tarball istio-VERSION/bin/istioctl
// of the real istioctl (a symbolic link to it: the binary is ~100 MB) and
// returns its file:// URL.
func (w *revWorld) realPackage(istioctl string) string {
	t := w.h.t
	t.Helper()
	src := filepath.Join(w.h.dir, "pkgsrc-real")
	bin := filepath.Join(src, "istio-"+w.spec.newVersion, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(istioctl, filepath.Join(bin, "istioctl")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(w.h.dir, "pkg-real")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "istio-"+w.spec.newVersion+"-linux-amd64.tar.gz")
	if out, err := exec.Command("tar", "czf", file, "-C", src, "istio-"+w.spec.newVersion).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	w.openssl("dgst", "-sha256", "-sign", filepath.Join(w.keyDir, "key.pem"), "-out", file+".1.sig", file)
	return "file://" + file
}

// TestRealIstioctlAsmRevision: asm-revision-upgrade's revision path (oldRev
// a revision) from a 1.30.2 revision installed by the real istioctl with
// the default profile (its ingress gateway in the istio namespace, which
// every install takes over) to the real istioctl's own version, unpacked
// from a signed package. cairn is SIGKILLed after every 5th journal commit
// of each process and resumed, both gates approved as the run reaches
// them; the end state must be the one of an uninterrupted run.
func TestRealIstioctlAsmRevision(t *testing.T) {
	suffix := kubetest.UniqueName("x", 8)[2:]
	rw := newRealWorld(t, "1-30-2-"+suffix, "1-31-"+suffix, "default")
	h := rw.h
	old := map[string]string{"istio.io/rev": rw.oldRev}
	w := &revWorld{h: h, istioNS: rw.istioNS, keyDir: filepath.Join(h.dir, "keys"), workDir: filepath.Join(h.dir, "work"),
		playbook: filepath.Join(repoRoot, "playbooks", "builtin", "asm-revision-upgrade.yaml"),
		spec: revSpec{oldRev: rw.oldRev, oldVersion: realOldVersion, newRev: rw.newRev, newVersion: rw.version,
			appLabels: []map[string]string{old, old, old}}}
	for _, labels := range w.spec.appLabels {
		ns := h.env.Namespace(t, labels)
		w.apps = append(w.apps, ns)
		h.env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", Replicas: 2, ProxyVersion: "0.0.0"})
	}
	for _, ns := range w.proxied() {
		h.waitProxyTags(ns, realOldVersion, 60*time.Second)
	}
	w.genKey()
	w.pkgURL = w.realPackage(rw.istioctl)

	// istioctl made the default tag for the first revision: the finish
	// must refuse while it still points at the old one (its webhook and
	// Service istiod-revision-tag-default would call a deleted istiod).
	approve := func(run, gate string) {
		h.mustCairn(0, "approve", run, gate)
		if gate != "ready-to-finish" {
			return
		}
		r := h.cairn(nil, "resume", run)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "no-tag-on-old") || !strings.Contains(r.stdout+r.stderr, "istio-revision-tag-default") {
			t.Fatalf("resume with the default tag on the old revision: exit %d, want a no-tag-on-old failure\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		w.assertControlPlane(w.spec.oldRev, true, "Deployment", "Service")
		rw.real("tag", "set", "default", "--revision", w.spec.newRev, "--overwrite", "-i", w.istioNS)
	}
	run := h.runWithCrashesAt(crashEvery[0], w.playbook, withParam(w.params(), "profile", "default"), approve, "canary-ok", "ready-to-finish")

	w.assertInjectionLabels(w.newLabels())
	w.waitApps(w.apps, w.spec.newVersion, w.spec.newRev)
	h.waitProxyTags(w.istioNS, w.spec.newVersion, 30*time.Second) // the gateway, upgraded in place
	// 1.24+ writes no IstioOperator installed-state, and its chart makes a
	// PodDisruptionBudget only for more than one istiod replica.
	w.assertControlPlane(w.spec.newRev, true, "Deployment", "Service", "HorizontalPodAutoscaler", "MutatingWebhookConfiguration")
	w.assertControlPlane(w.spec.oldRev, false, "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget")
	if got := w.istiodVersion(w.spec.newRev); got != w.spec.newVersion {
		t.Errorf("istiod-%s runs %s, want %s", w.spec.newRev, got, w.spec.newVersion)
	}
	h.assertNoRerun(run)
	h.mustCairn(0, "journal", "verify")
}
