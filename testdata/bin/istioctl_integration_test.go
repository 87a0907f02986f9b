//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/steps/kubetest"
	admv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestIstioctlInstallCreatesTheRevision(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	rev := kubetest.UniqueName("1-15-4", 20)
	c := bg(t)

	// Like the real one, a non-interactive install without -y is cancelled.
	install(t, "istio", "1.15.4")
	istioctl := filepath.Join(binDir, "istio-1.15.4", "bin", "istioctl")
	cleanupRevision(t, env, ns, rev)
	r := invoke(t, cmd{tool: istioctl, args: []string{"install", "--set", "revision=" + rev, "--set", "values.global.istioNamespace=" + ns}})
	if r.code != 1 || !strings.Contains(r.stdout, "Proceed? (y/N)") || !strings.Contains(r.stdout, "Cancelled.") {
		t.Fatalf("install without -y: want the prompt, Cancelled. and exit 1: %s", r)
	}
	if _, err := env.Clientset.AppsV1().Deployments(ns).Get(c, "istiod-"+rev, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("cancelled install created istiod-%s: %v", rev, err)
	}
	r = invoke(t, cmd{tool: istioctl, args: []string{"install", "-f", "missing.yaml", "-y"}})
	if r.code != 1 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Fatalf("install -f missing.yaml: want exit 1 naming the file: %s", r)
	}

	dir := t.TempDir()
	overlay := filepath.Join(dir, "overlay.yaml")
	if err := os.WriteFile(overlay, []byte("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    accessLogFile: /dev/stdout\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, cmd{tool: istioctl, args: []string{"install", "--set", "profile=asm-multicloud", "--set", "revision=" + rev, "-f", overlay, "--set", "values.global.istioNamespace=" + ns, "-y"}})
	wantContains(t, "install output", r.stdout, "✔ Istio core installed", "✔ Istiod installed", "✔ Ingress gateways installed", "✔ Installation complete")

	name := "istiod-" + rev
	d, err := env.Clientset.AppsV1().Deployments(ns).Get(c, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"app": "istiod", "istio.io/rev": rev, "istio": "pilot", labelVersion: "1.15.4"} {
		if d.Labels[k] != v {
			t.Errorf("Deployment %s label %s = %q, want %q", name, k, d.Labels[k], v)
		}
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "docker.io/istio/pilot:1.15.4" || d.Status.AvailableReplicas != 1 {
		t.Errorf("Deployment %s: image %s, available %d; want docker.io/istio/pilot:1.15.4 and 1 (install waits)", name, img, d.Status.AvailableReplicas)
	}
	svc, err := env.Clientset.CoreV1().Services(ns).Get(c, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if ports["grpc-xds"] != 15010 || ports["https-dns"] != 15012 || ports["https-webhook"] != 443 || ports["http-monitoring"] != 15014 || svc.Spec.Selector["istio.io/rev"] != rev {
		t.Errorf("Service %s: ports %v selector %v", name, ports, svc.Spec.Selector)
	}
	if _, err := env.Clientset.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(c, name, metav1.GetOptions{}); err != nil {
		t.Errorf("HPA: %v", err)
	}
	if _, err := env.Clientset.PolicyV1().PodDisruptionBudgets(ns).Get(c, name, metav1.GetOptions{}); err != nil {
		t.Errorf("PDB: %v", err)
	}
	gw, err := env.Clientset.AppsV1().Deployments(ns).Get(c, "istio-ingressgateway", metav1.GetOptions{})
	if err != nil || gw.Spec.Template.Spec.Containers[0].Image != "docker.io/istio/proxyv2:1.15.4" {
		t.Errorf("ingress gateway of the asm-multicloud profile: %v %+v", err, gw)
	}

	// Exactly the revision's webhook configurations, failing open.
	mwcs, _ := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().List(c, metav1.ListOptions{LabelSelector: "istio.io/rev=" + rev})
	if len(mwcs.Items) != 1 || mwcs.Items[0].Name != "istio-sidecar-injector-"+rev+"-"+ns {
		t.Fatalf("mutating webhook configurations for %s: %v", rev, mwcs.Items)
	}
	whs := mwcs.Items[0].Webhooks
	if len(whs) != 2 || whs[0].Name != "rev.namespace.sidecar-injector.istio.io" || whs[0].ClientConfig.Service.Name != name ||
		whs[0].ClientConfig.Service.Namespace != ns || *whs[0].FailurePolicy != admv1.Ignore ||
		whs[0].NamespaceSelector.MatchExpressions[0].Values[0] != rev {
		t.Errorf("injector webhooks: %+v", whs)
	}
	vwcs, _ := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(c, metav1.ListOptions{LabelSelector: "istio.io/rev=" + rev})
	if len(vwcs.Items) != 1 || vwcs.Items[0].Name != "istio-validator-"+rev+"-"+ns {
		t.Errorf("validating webhook configurations for %s: %v", rev, vwcs.Items)
	}
	iop, err := env.Dynamic.Resource(iopGVR).Namespace(ns).Get(c, "installed-state-"+rev, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"spec.revision": rev, "spec.profile": "asm-multicloud", "spec.meshConfig.accessLogFile": "/dev/stdout"} {
		if got, _, _ := unstructured.NestedString(iop.Object, strings.Split(path, ".")...); got != want {
			t.Errorf("installed-state %s = %q, want %q", path, got, want)
		}
	}

	// install has no namespace flag of its own: the root's -i parses but is
	// ignored, so this revision lands in istio-system, named without -NS.
	rev2 := kubetest.UniqueName("1-15-4", 20)
	cleanupRevision(t, env, "istio-system", rev2)
	mustRun(t, cmd{tool: istioctl, args: []string{"install", "-i", ns, "--set", "profile=minimal", "--set", "revision=" + rev2, "-y"}})
	if _, err := env.Clientset.AppsV1().Deployments("istio-system").Get(c, "istiod-"+rev2, metav1.GetOptions{}); err != nil {
		t.Errorf("install -i %s: istiod-%s not in istio-system: %v", ns, rev2, err)
	}
	if _, err := env.Clientset.AppsV1().Deployments(ns).Get(c, "istiod-"+rev2, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("install -i %s honoured -i: %v", ns, err)
	}
	if _, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector-"+rev2, metav1.GetOptions{}); err != nil {
		t.Errorf("injector of a revision in istio-system: %v", err)
	}
}

func TestIstioctlVersionAndUpgradeWarnings(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	r := mustRun(t, cmd{tool: "istioctl", args: []string{"version", "-i", ns}})
	if r.stdout != "1.15.4\n" || !strings.Contains(r.stderr, `no running Istio pods in "`+ns+`"`) {
		t.Errorf("version with no control plane: %s", r)
	}
	if r := mustRun(t, cmd{tool: "istioctl", args: []string{"version", "--remote=false"}}); r.stdout != "1.15.4\n" {
		t.Errorf("version --remote=false: %s", r)
	}
	old := kubetest.UniqueName("1-12-9", 20)
	installRevision(t, env, "1.12.9", ns, old)
	app := env.Namespace(t, nil)
	env.CreateWorkload(t, app, kubetest.Workload{Name: "web", ProxyVersion: "1.12.9"})
	env.WaitDeploymentAvailable(t, app, "web", rolloutTimeout)

	r = installRevision(t, env, "1.15.4", ns, kubetest.UniqueName("1-15-4", 20))
	wantContains(t, "install next to 1.12.9", r.stderr, "WARNING: Istio is being upgraded from 1.12.9 -> 1.15.4",
		"more than 2 minor versions apart (1.12 -> 1.15)")
	r = mustRun(t, cmd{tool: "istioctl", args: []string{"version", "-i", ns}})
	wantContains(t, "version", r.stdout, "client version: 1.15.4\n", "control plane version: 1.12.9, 1.15.4\n", "1.12.9 (")
}

func TestIstioctlTagSetListRemove(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	r1, r2 := kubetest.UniqueName("1-14-6", 20), kubetest.UniqueName("1-15-4", 20)
	installRevision(t, env, "1.14.6", ns, r1)
	installRevision(t, env, "1.15.4", ns, r2)
	tag := kubetest.UniqueName("tag", 20)
	tagName := "istio-revision-tag-" + tag + "-" + ns // -NS outside istio-system
	cleanupWebhook(t, env, tagName)
	c := bg(t)
	getTag := func() *admv1.MutatingWebhookConfiguration {
		m, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, tagName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	checkTag := func(rev string) {
		t.Helper()
		m := getTag()
		if m.Labels["istio.io/rev"] != rev || m.Labels["istio.io/tag"] != tag || len(m.Webhooks) != 2 {
			t.Fatalf("tag webhook: labels %v, %d webhooks; want rev %s", m.Labels, len(m.Webhooks), rev)
		}
		for _, w := range m.Webhooks {
			if w.ClientConfig.Service.Name != "istiod-"+rev || w.ClientConfig.Service.Namespace != ns || *w.FailurePolicy != admv1.Ignore {
				t.Errorf("webhook %s: service %s/%s, failurePolicy %s", w.Name, w.ClientConfig.Service.Namespace, w.ClientConfig.Service.Name, *w.FailurePolicy)
			}
		}
		if sel := m.Webhooks[0].NamespaceSelector.MatchExpressions[0]; sel.Key != "istio.io/rev" || sel.Values[0] != tag {
			t.Errorf("rev.namespace selector %+v, want istio.io/rev In [%s]", sel, tag)
		}
	}

	r := mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "set", tag, "--revision", r1, "-i", ns}})
	wantContains(t, "tag set", r.stdout, `Revision tag "`+tag+`" created, referencing control plane revision "`+r1+`"`)
	checkTag(r1)
	r = invoke(t, cmd{tool: "istioctl", args: []string{"tag", "set", tag, "--revision", r2, "-i", ns}})
	if r.code != 1 || !strings.Contains(r.stderr, `revision tag "`+tag+`" already exists, and --overwrite is false`) {
		t.Errorf("tag set without --overwrite: %s", r)
	}
	checkTag(r1)
	mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "set", tag, "--revision", r2, "--overwrite", "-i", ns}})
	checkTag(r2)
	r = invoke(t, cmd{tool: "istioctl", args: []string{"tag", "set", tag, "--revision", "no-such-rev", "--overwrite"}})
	wantContains(t, "tag set to a missing revision", r.stderr, `cannot find MutatingWebhookConfiguration with revision "no-such-rev"`)
	if r := invoke(t, cmd{tool: "istioctl", args: []string{"tag", "set", r1, "--revision", r2}}); r.code != 1 {
		t.Errorf("a tag named like a revision must be refused: %s", r)
	}

	app := env.Namespace(t, map[string]string{"istio.io/rev": tag})
	r = mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "list"}})
	wantContains(t, "tag list", r.stdout, "TAG", "REVISION", "NAMESPACES")
	found := false
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == tag && f[1] == r2 && f[2] == app {
			found = true
		}
	}
	if !found {
		t.Errorf("tag list: no row %q", tag+" "+r2+" "+app)
	}
	r = mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "remove", tag}})
	wantContains(t, "tag remove with a namespace still using it", r.stdout, "Aborting operation.")
	getTag()
	mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "remove", tag, "-y"}})
	if _, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, tagName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("tag webhook after remove: %v", err)
	}
}

func TestIstioctlUninstall(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	r1, r2 := kubetest.UniqueName("1-14-6", 20), kubetest.UniqueName("1-15-4", 20)
	// r1 with the default profile's gateway: removing it needs confirmation.
	installRevision(t, env, "1.14.6", ns, r1, "--set", "profile=default")
	installRevision(t, env, "1.15.4", ns, r2)
	tag := kubetest.UniqueName("tag", 20)
	tagName := "istio-revision-tag-" + tag + "-" + ns
	cleanupWebhook(t, env, tagName)
	mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "set", tag, "--revision", r2, "-i", ns}})
	c := bg(t)
	exists := func(rev string) map[string]bool {
		n := "istiod-" + rev
		_, d := env.Clientset.AppsV1().Deployments(ns).Get(c, n, metav1.GetOptions{})
		_, s := env.Clientset.CoreV1().Services(ns).Get(c, n, metav1.GetOptions{})
		_, h := env.Clientset.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(c, n, metav1.GetOptions{})
		_, p := env.Clientset.PolicyV1().PodDisruptionBudgets(ns).Get(c, n, metav1.GetOptions{})
		_, m := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector-"+rev+"-"+ns, metav1.GetOptions{})
		_, v := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(c, "istio-validator-"+rev+"-"+ns, metav1.GetOptions{})
		_, i := env.Dynamic.Resource(iopGVR).Namespace(ns).Get(c, "installed-state-"+rev, metav1.GetOptions{})
		_, tg := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, tagName, metav1.GetOptions{})
		return map[string]bool{"deployment": d == nil, "service": s == nil, "hpa": h == nil, "pdb": p == nil, "injector": m == nil, "validator": v == nil, "iop": i == nil, "tag": tg == nil}
	}
	// 1.15's uninstall declares --istioNamespace itself, without -i.
	r := invoke(t, cmd{tool: "istioctl", args: []string{"uninstall", "--revision", r1, "-i", ns, "-y"}})
	if r.code != 1 || r.stderr != "Error: unknown shorthand flag: 'i' in -i\n" || !exists(r1)["deployment"] {
		t.Fatalf("uninstall -i: %s", r)
	}
	r = invoke(t, cmd{tool: "istioctl", args: []string{"uninstall", "--revision", r1, "--istioNamespace", ns}})
	if r.code != 1 || !strings.Contains(r.stdout, "You are about to remove the following gateways: "+ns+"/istio-ingressgateway") ||
		!strings.Contains(r.stdout, "Proceed? (y/N)") || !exists(r1)["deployment"] {
		t.Fatalf("uninstall of a gateway without -y must ask and cancel: %s", r)
	}
	r = mustRun(t, cmd{tool: "istioctl", args: []string{"uninstall", "--revision", r1, "--istioNamespace", ns, "-y"}})
	wantContains(t, "uninstall", r.stdout, "Removed Deployment:"+ns+":istiod-"+r1, "✔ Uninstall complete")
	for what, ok := range exists(r1) {
		if ok && what != "tag" {
			t.Errorf("after uninstall --revision %s: %s still exists", r1, what)
		}
	}
	for what, ok := range exists(r2) {
		if !ok {
			t.Errorf("uninstall --revision %s removed %s of %s", r1, what, r2)
		}
	}
	// As the real istioctl prunes by label, a tag pointing at the revision goes too.
	mustRun(t, cmd{tool: "istioctl", args: []string{"uninstall", "--revision", r2, "--istioNamespace", ns}}) // nothing to confirm
	if exists(r2)["tag"] {
		t.Errorf("uninstall --revision %s left the tag webhook that points at it", r2)
	}
	if r := invoke(t, cmd{tool: "istioctl", args: []string{"uninstall"}}); r.code != 1 || !strings.Contains(r.stderr, "--revision") {
		t.Errorf("uninstall without --revision: %s", r)
	}
}

func TestIstioctlPrecheck(t *testing.T) {
	env := kubetest.New(t)
	c := bg(t)
	_ = c
	// Success goes to stderr (istioctl/cmd/precheck.go): stdout is empty.
	for _, v := range []string{"1.14.6", "1.15.4"} {
		install(t, "istio", v)
		r := mustRun(t, cmd{tool: filepath.Join(binDir, "istio-"+v, "bin", "istioctl"), args: []string{"x", "precheck"}})
		if r.stdout != "" || !strings.Contains(r.stderr, "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!") {
			t.Errorf("precheck %s: %s", v, r)
		}
	}
	// Both injection labels are analyze's IST0123, not one of precheck's checks.
	ns := env.Namespace(t, map[string]string{"istio-injection": "enabled", "istio.io/rev": "default"})
	if r := mustRun(t, cmd{tool: "istioctl", args: []string{"x", "precheck"}}); strings.Contains(r.stdout+r.stderr, "IST0123") {
		t.Errorf("precheck reports IST0123: %s", r)
	}
	r := mustRun(t, cmd{tool: "istioctl", args: []string{"analyze", "-n", ns}})
	wantContains(t, "analyze", r.stdout, "IST0123", "(Namespace "+ns+")")

	bad := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\nusers: [{name: x, user: {token: t}}]\ncurrent-context: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = invoke(t, cmd{tool: "istioctl", args: []string{"x", "precheck", "--kubeconfig", bad}})
	if r.code != 1 || !strings.Contains(r.stderr, "unable to connect to the Kubernetes API server") {
		t.Errorf("precheck against an unreachable apiserver: %s", r)
	}
}

func TestIstioctlCreateRemoteSecret(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	r := mustRun(t, cmd{tool: "istioctl", args: []string{"x", "create-remote-secret", "--context=cairn", "--name=cluster-b", "-i", ns}})
	wantContains(t, "remote secret", r.stdout, "kind: Secret", "name: istio-remote-secret-cluster-b", "namespace: "+ns,
		`istio/multiCluster: "true"`, "cluster-b: |", "token: ", "server: https://127.0.0.1:")
	if _, err := env.Clientset.CoreV1().ServiceAccounts(ns).Get(bg(t), "istio-reader-service-account", metav1.GetOptions{}); err != nil {
		t.Errorf("istio-reader-service-account: %v", err)
	}
	if r := invoke(t, cmd{tool: "istioctl", args: []string{"x", "create-remote-secret", "--context=nope"}}); r.code != 1 {
		t.Errorf("unknown context: %s", r)
	}
}
