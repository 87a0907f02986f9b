//go:build integration

package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/steps"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The istiod Service as seed C step 8 points it at the new revision.
func istiodServiceManifest(rev string, extra string) string {
	return `
apiVersion: v1
kind: Service
metadata:
  name: istiod
  labels: {app: istiod, istio.io/rev: ` + rev + `}
spec:
  clusterIP: None
  selector: {app: istiod, istio.io/rev: ` + rev + `}
  ports:
  - {name: https-webhook, port: 443, targetPort: 15017}
  - {name: grpc-xds, port: 15010}
  - {name: https-dns, port: 15012}
  - {name: http-monitoring, port: 15014}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-` + rev + `}
data:
  mesh: "revision ` + rev + `"
` + extra
}

func TestApplyCreateUpdateNoopDiffIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	ex := it.exec("kube.apply")
	ax := ex.(*applyExec)
	p := &ApplyParams{Namespace: ns, Manifest: istiodServiceManifest("asm-1", "  extra: x\n")}
	in := it.in(p)

	diff, err := ex.(steps.Differ).Diff(it.ctx(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, "--- Service "+ns+"/istiod (absent)") || !strings.Contains(diff, "+kind: Service") {
		t.Errorf("diff of a new object:\n%s", diff)
	}
	if it.done(ex, in) {
		t.Fatal("Check says done before the apply")
	}
	res := it.run(ex, in)
	if res.Evidence != "created Service "+ns+"/istiod; created ConfigMap "+ns+"/istio-asm-1" {
		t.Errorf("evidence = %q", res.Evidence)
	}
	svc, err := it.env.Clientset.CoreV1().Services(ns).Get(it.ctx(), "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["istio.io/rev"] != "asm-1" || len(svc.Spec.Ports) != 4 || svc.ManagedFields[0].Manager != FieldManager {
		t.Errorf("service = %+v, managed by %v", svc.Spec, svc.ManagedFields)
	}

	// Resume: Check says done, the diff is empty, and Run again is a no-op.
	if !it.done(ex, in) {
		t.Error("Check after Run: not done")
	}
	diff, err = ax.Diff(it.ctx(), p)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "Service "+ns+"/istiod: no changes\nConfigMap "+ns+"/istio-asm-1: no changes\n" {
		t.Errorf("diff after apply:\n%s", diff)
	}
	in.Attempt = 2
	if res := it.run(ex, in); res.Evidence != "unchanged Service "+ns+"/istiod; unchanged ConfigMap "+ns+"/istio-asm-1" {
		t.Errorf("re-run evidence = %q", res.Evidence)
	}

	// Pointing the Service at a new revision shows as a diff and applies.
	p2 := &ApplyParams{Namespace: ns, Manifest: strings.Replace(istiodServiceManifest("asm-1", "  extra: x\n"), "istio.io/rev: asm-1}\nspec", "istio.io/rev: asm-2}\nspec", 1)}
	p2.Manifest = strings.Replace(p2.Manifest, "selector: {app: istiod, istio.io/rev: asm-1}", "selector: {app: istiod, istio.io/rev: asm-2}", 1)
	in2 := it.in(p2)
	if it.done(ex, in2) {
		t.Error("Check says done for a changed manifest")
	}
	diff, err = ax.Diff(it.ctx(), p2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("diff:\n%s", diff)
	for _, want := range []string{"--- Service " + ns + "/istiod (live)", "+++ Service " + ns + "/istiod (after apply)", "-    istio.io/rev: asm-1", "+    istio.io/rev: asm-2", "ConfigMap " + ns + "/istio-asm-1: no changes"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if res := it.run(ex, in2); res.Evidence != "configured Service "+ns+"/istiod; unchanged ConfigMap "+ns+"/istio-asm-1" {
		t.Errorf("evidence = %q", res.Evidence)
	}
	if !it.done(ex, in2) {
		t.Error("Check after the update: not done")
	}

	// A field cairn applied before and the manifest no longer has is a
	// pending change too: apply removes it.
	p3 := &ApplyParams{Namespace: ns, Manifest: strings.Replace(p2.Manifest, "  extra: x\n", "", 1)}
	if it.done(ex, it.in(p3)) {
		t.Error("Check ignores a field the apply would remove")
	}
	it.run(ex, it.in(p3))
	cm, err := it.env.Clientset.CoreV1().ConfigMaps(ns).Get(it.ctx(), "istio-asm-1", metav1.GetOptions{})
	if err != nil || cm.Data["extra"] != "" || cm.Data["mesh"] == "" {
		t.Errorf("configmap after dropping a key: %v %v", cm.Data, err)
	}
}

func TestApplyConflictsAndErrorsIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	ex := it.exec("kube.apply")
	// An object another tool created: its fields belong to that manager.
	_, err := it.env.Clientset.CoreV1().ConfigMaps(ns).Create(it.ctx(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh"}, Data: map[string]string{"rev": "asm-1"},
	}, metav1.CreateOptions{FieldManager: "istioctl"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mesh}\ndata: {rev: asm-2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := it.in(&ApplyParams{File: file, Namespace: ns})
	_, err = ex.Run(it.ctx(), in)
	objWantPermanent(t, err, "applying ConfigMap "+ns+"/mesh", "istioctl", "set force: true")
	t.Logf("conflict: %v", err)
	if it.done(ex, in) {
		t.Error("Check says done although the apply conflicts")
	}
	in = it.in(&ApplyParams{File: file, Namespace: ns, Force: true})
	if res := it.run(ex, in); res.Evidence != "configured ConfigMap "+ns+"/mesh" {
		t.Errorf("forced evidence = %q", res.Evidence)
	}
	if !it.done(ex, in) {
		t.Error("Check after a forced apply: not done")
	}

	_, err = ex.Run(it.ctx(), it.in(&ApplyParams{Namespace: ns, Manifest: "apiVersion: example.com/v1\nkind: Nope\nmetadata: {name: a}\n"}))
	objWantPermanent(t, err, "the cluster serves no example.com/v1 Nope (is its CRD installed?)")
	_, err = ex.Run(it.ctx(), it.in(&ApplyParams{Manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}))
	objWantPermanent(t, err, "ConfigMap a is namespaced but names no namespace")
	_, err = ex.Run(it.ctx(), it.in(&ApplyParams{Namespace: ns, Manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 99999}]}\n"}))
	objWantPermanent(t, err, "applying Service "+ns+"/bad", "Invalid")
	_, err = ex.Run(it.ctx(), it.in(&ApplyParams{File: filepath.Join(dir, "nope.yaml")}))
	objWantPermanent(t, err, "nope.yaml: no such file")
}

// With diff: true, the evidence records what would change before it is
// applied (kubectl diff, then apply): here a selector taken over from
// kubectl's client-side apply with force. A Secret's diff is not recorded.
func TestApplyDiffEvidenceIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	ex := it.exec("kube.apply")
	_, err := it.env.Clientset.CoreV1().Services(ns).Create(it.ctx(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod", Labels: map[string]string{"app": "istiod", "istio.io/rev": "asm-1"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "istiod", "istio.io/rev": "asm-1"},
			Ports: []corev1.ServicePort{{Name: "https-webhook", Port: 443}}},
	}, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"})
	if err != nil {
		t.Fatal(err)
	}
	manifest := "apiVersion: v1\nkind: Service\nmetadata: {name: istiod, labels: {app: istiod, istio.io/rev: asm-2}}\n" +
		"spec: {selector: {app: istiod, istio.io/rev: asm-2}, ports: [{name: https-webhook, port: 443}]}\n---\n" +
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {token: hunter2}\n"
	res := it.run(ex, it.in(&ApplyParams{Namespace: ns, Manifest: manifest, Force: true, Diff: true}))
	for _, want := range []string{"configured Service " + ns + "/istiod; created Secret " + ns + "/s\n", "--- Service " + ns + "/istiod (live)",
		"-    istio.io/rev: asm-1", "+    istio.io/rev: asm-2", "Secret " + ns + "/s: diff not recorded"} {
		if !strings.Contains(res.Evidence, want) {
			t.Errorf("evidence lacks %q:\n%s", want, res.Evidence)
		}
	}
	if strings.Contains(res.Evidence, "hunter2") || strings.Contains(res.Evidence, "aHVudGVyMg") {
		t.Errorf("evidence holds the secret:\n%s", res.Evidence)
	}
}
