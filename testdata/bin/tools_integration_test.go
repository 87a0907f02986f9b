//go:build integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kubetest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

const rolloutTimeout = 60 * time.Second

func TestAsmcliInstall(t *testing.T) {
	env := kubetest.New(t)
	// asmcli always installs into istio-system under a revision derived from
	// its release; a random REV keeps the names apart from other tests.
	n := 1000 + rand.IntN(9000)
	release, rev := fmt.Sprintf("1.14.0-asm.%d", n), fmt.Sprintf("asm-1140-%d", n)
	script := fmt.Sprintf("asmcli_1140-%d", n)
	install(t, "asmcli", release)
	cleanupRevision(t, env, "istio-system", rev)
	b, err := os.ReadFile(filepath.Join(binDir, script))
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, script, string(b), `MAJOR="${MAJOR:=1}"`, `MINOR="${MINOR:=14}"`, `POINT="${POINT:=0}"`, fmt.Sprintf(`REV="${REV:=%d}"`, n))
	if r := mustRun(t, cmd{tool: script, args: []string{"--version"}}); r.stdout != release+"+config1\n" {
		t.Errorf("--version: %s", r)
	}

	dir := t.TempDir()
	overlay := filepath.Join(dir, "overlay.yaml")
	if err := os.WriteFile(overlay, []byte("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    enableTracing: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kc := os.Getenv("KUBECONFIG")
	base := []string{"install", "--kubeconfig", kc, "--platform", "multicloud", "--output_dir", "./output", "--enable_all", "--ca", "mesh_ca"}
	r := invoke(t, cmd{tool: script, args: append(base, "--custom_overlay", overlay), dir: dir})
	if r.code != 2 || !strings.Contains(r.stderr, "--fleet_id") {
		t.Errorf("multicloud without --fleet_id: %s", r)
	}
	r = invoke(t, cmd{tool: script, args: append(base, "--fleet_id", "f", "--custom_overlay", "nope.yaml"), dir: dir})
	if r.code != 2 || !strings.Contains(r.stderr, "Couldn't find yaml file nope.yaml") {
		t.Errorf("missing overlay: %s", r)
	}
	c := bg(t)
	_, err = env.Clientset.CoreV1().Services("istio-system").Get(c, "istiod", metav1.GetOptions{})
	firstInstall := apierrors.IsNotFound(err)
	r = mustRun(t, cmd{tool: script, args: append(base, "--fleet_id", "f", "--custom_overlay", overlay), dir: dir})
	wantContains(t, "asmcli install", r.stderr, "Successfully installed ASM.", "istio.io/rev="+rev)
	if firstInstall {
		// The validation webhook fix: Service istiod, by a client-side kubectl apply.
		t.Cleanup(func() {
			_ = env.Clientset.CoreV1().Services("istio-system").Delete(context.Background(), "istiod", metav1.DeleteOptions{})
		})
		wantContains(t, "asmcli install", r.stderr, "Installing validation webhook fix...")
		svc, err := env.Clientset.CoreV1().Services("istio-system").Get(c, "istiod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Selector["istio.io/rev"] != rev || svc.Labels["release"] != "istio" ||
			!strings.Contains(svc.Annotations["kubectl.kubernetes.io/last-applied-configuration"], `"istio.io/rev":"`+rev+`"`) ||
			len(svc.ManagedFields) != 1 || svc.ManagedFields[0].Manager != kubectlCSAManager {
			t.Errorf("Service istiod: selector %v, annotations %v, managed by %+v", svc.Spec.Selector, svc.Annotations, svc.ManagedFields)
		}
	}
	d, err := env.Clientset.AppsV1().Deployments("istio-system").Get(c, "istiod-"+rev, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "gcr.io/gke-release/asm/pilot:"+release {
		t.Errorf("istiod image %s", img)
	}
	if _, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector-"+rev, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	if _, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(c, "istio-validator-"+rev+"-istio-system", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	iop, err := env.Dynamic.Resource(iopGVR).Namespace("istio-system").Get(c, "installed-state-"+rev, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedBool(iop.Object, "spec", "meshConfig", "enableTracing"); !v {
		t.Errorf("installed-state does not record the overlay: %v", iop.Object["spec"])
	}
	// The istioctl asmcli leaves in the output dir is of the installed release.
	for _, p := range []string{"output/istioctl", "output/istio-" + release + "/bin/istioctl"} {
		if r := mustRun(t, cmd{tool: filepath.Join(dir, p), args: []string{"version", "--remote=false"}}); r.stdout != release+"\n" {
			t.Errorf("%s version: %s", p, r)
		}
	}
	tag := kubetest.UniqueName("asm", 20)
	cleanupWebhook(t, env, "istio-revision-tag-"+tag)
	if _, err := os.Stat(filepath.Join(dir, "output/asm-1.14")); !os.IsNotExist(err) {
		t.Errorf("asmcli 1.14 makes no output/asm-1.14 (seed 002's path): %v", err)
	}
	mustRun(t, cmd{tool: filepath.Join(dir, "output/istioctl"), args: []string{"tag", "set", tag, "--revision", rev, "--overwrite"}})
	r = mustRun(t, cmd{tool: filepath.Join(dir, "output/istioctl"), args: []string{"tag", "list"}})
	wantContains(t, "tag list", r.stdout, tag)
}

func TestManagedASMAndMeshEnable(t *testing.T) {
	env := kubetest.New(t)
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	b, err := os.ReadFile(os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kc, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e := []string{"KUBECONFIG=" + kc, "CAIRN_FAKE_DPC_DELAY=2s"}
	if r := invoke(t, cmd{tool: "gcloud", args: []string{"container", "clusters", "get-credentials", "c1", "--project", "p1"}, env: e}); r.code != 1 {
		t.Errorf("get-credentials without a location: %s", r)
	}
	mustRun(t, cmd{tool: "gcloud", args: []string{"container", "clusters", "get-credentials", "c1", "--zone", "us-central1-a", "--project", "p1"}, env: e})
	k, err := newKube(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	if k.context != "gke_p1_us-central1-a_c1" {
		t.Fatalf("current context after get-credentials: %q", k.context)
	}
	if err := k.reachable(); err != nil {
		t.Fatal(err)
	}
	c := bg(t)
	// The managed control plane's names are fixed: start from a cluster
	// without it (a fresh install) and leave none behind.
	reset := func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, ch := range managedChannels {
			_ = env.Dynamic.Resource(dpcGVR).Delete(c, ch.name, metav1.DeleteOptions{})
			_ = env.Dynamic.Resource(cprGVR).Namespace("istio-system").Delete(c, ch.name, metav1.DeleteOptions{})
		}
		_ = env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(c, "istiod-"+managedRevision, metav1.DeleteOptions{})
		_ = env.Clientset.CoreV1().ConfigMaps("istio-system").Delete(c, optionsConfigMap, metav1.DeleteOptions{})
	}
	reset()
	t.Cleanup(reset)
	args := []string{"--mode", "install", "--managed", "-p", "p1", "-l", "us-central1-a", "-n", "c1", "--verbose", "--output_dir", "c1",
		"--enable-all", "--enable-registration", "--option", "cni-managed"}
	if r := invoke(t, cmd{tool: "install_asm", args: args[2:], env: e, dir: dir}); r.code != 2 || !strings.Contains(r.stderr, "--mode") {
		t.Errorf("install_asm without --mode: %s", r)
	}
	mustRun(t, cmd{tool: "install_asm", args: args, env: e, dir: dir})
	for _, f := range []string{"c1/asm_kubeconfig", "c1/istio-1.11.2-asm.17/bin/istioctl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istiod-"+managedRevision, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	state := func() string {
		d, err := env.Dynamic.Resource(dpcGVR).Get(c, managedRevision, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, _, _ := unstructured.NestedString(d.Object, "status", "state")
		return s
	}
	// install_asm 1.11 applies the DataPlaneControl CRD, not an object, and
	// a ControlPlaneRevision per channel.
	if _, err := env.Dynamic.Resource(dpcGVR).Get(c, managedRevision, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("DataPlaneControl before mesh enable: %v, want none", err)
	}
	if cpr, err := env.Dynamic.Resource(cprGVR).Namespace("istio-system").Get(c, managedRevision, metav1.GetOptions{}); err != nil {
		t.Error(err)
	} else if ch, _, _ := unstructured.NestedString(cpr.Object, "spec", "channel"); ch != "rapid" {
		t.Errorf("ControlPlaneRevision %s channel %q", managedRevision, ch)
	}
	// Same flags again: no warning; different flags: a warning.
	if r := mustRun(t, cmd{tool: "install_asm", args: args, env: e, dir: dir}); strings.Contains(r.stderr, "WARNING") {
		t.Errorf("rerun with the same flags warned: %s", r)
	}
	r := mustRun(t, cmd{tool: "install_asm", args: args[:len(args)-2], env: e, dir: dir})
	wantContains(t, "rerun with other flags", r.stderr, "[WARNING]", "different options")
	mustRun(t, cmd{tool: "install_asm", args: args, env: e, dir: dir})

	if r := invoke(t, cmd{tool: "gcloud", args: []string{"alpha", "container", "hub", "mesh", "enable"}, env: e}); r.code != 1 {
		t.Errorf("mesh enable without a project: %s", r)
	}
	// The kubeconfig mesh enable was given is gone as soon as it exits, as
	// cairn's private copy for a tool is when cairn is done or killed:
	// Google's side acts on the cluster without it.
	kb, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	shortLived := filepath.Join(dir, "short-lived-kubeconfig")
	if err := os.WriteFile(shortLived, kb, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mustRun(t, cmd{tool: "gcloud", args: []string{"container", "fleet", "mesh", "enable", "--project=p1"}, env: []string{"KUBECONFIG=" + shortLived, "CAIRN_FAKE_DPC_DELAY=2s"}})
	if err := os.Remove(shortLived); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "" {
		t.Fatalf("DataPlaneControl state right after mesh enable = %q; it must become ready only later", s)
	}
	w, err := env.Dynamic.Resource(dpcGVR).Watch(c, metav1.ListOptions{FieldSelector: "metadata.name=" + managedRevision})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	timeout := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case ev := <-w.ResultChan():
			if u, ok := ev.Object.(*unstructured.Unstructured); ok && ev.Type != watch.Deleted {
				s, _, _ := unstructured.NestedString(u.Object, "status", "state")
				ready = s == dpcReadyState
			}
		case <-timeout:
			t.Fatalf("DataPlaneControl never became %s", dpcReadyState)
		}
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("DataPlaneControl ready after %v, want a delay", el)
	}
	if r := invoke(t, cmd{tool: "gcloud", args: []string{"container", "clusters", "list"}}); r.code != 2 {
		t.Errorf("unsupported gcloud command: %s", r)
	}
}

// bmNode creates a kwok node of a bare-metal cluster, tainted so that no
// other test's pod lands on it.
func bmNode(t *testing.T, env *kubetest.Env, cluster, kubelet string) string {
	name := kubetest.UniqueName("bm-node", 40)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{labelBMCluster: cluster, "type": "kwok"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "cairn.dev/test-node", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: kubelet},
			Capacity: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")},
		},
	}
	if _, err := env.Clientset.CoreV1().Nodes().Create(bg(t), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Clientset.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

func TestBmctlUpgrade(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	c := bg(t)
	cluster := kubetest.UniqueName("bm", 30)
	env.CreateBareMetalCluster(t, ns, cluster, "1.12.0")
	nodes := []string{bmNode(t, env, cluster, "v1.23.5-gke.1504"), bmNode(t, env, cluster, "v1.23.5-gke.1504")}
	shared, _ := env.Clientset.CoreV1().Nodes().Get(c, "kwok-node-0", metav1.GetOptions{})
	install(t, "bmctl", "1.12.1")
	kc := os.Getenv("KUBECONFIG")

	if r := mustRun(t, cmd{tool: "bmctl-1.12.1", args: []string{"version"}}); !strings.Contains(r.stdout, "] bmctl version: 1.12.1-gke.") || !strings.HasPrefix(r.stdout, "[") {
		t.Errorf("bmctl version: %s", r)
	}
	// Docker down: systemctl says so and bmctl refuses before touching anything.
	down := []string{envFakeDocker + "=inactive"}
	if r := invoke(t, cmd{tool: "systemctl", args: []string{"is-active", "docker"}, env: down}); r.code != 3 || r.stdout != "inactive\n" {
		t.Errorf("systemctl is-active docker with docker down: %s", r)
	}
	if r := invoke(t, cmd{tool: "systemctl", args: []string{"status", "docker"}, env: down}); r.code != 3 || !strings.Contains(r.stdout, "inactive (dead)") {
		t.Errorf("systemctl status docker with docker down: %s", r)
	}
	if r := mustRun(t, cmd{tool: "systemctl", args: []string{"is-active", "docker"}}); r.stdout != "active\n" {
		t.Errorf("systemctl is-active docker: %s", r)
	}
	r := invoke(t, cmd{tool: "bmctl-1.12.1", args: []string{"upgrade", "cluster", "-c", cluster, "--kubeconfig", kc}, env: down})
	if r.code != 1 || !strings.Contains(r.stderr, "Is the docker daemon running?") {
		t.Errorf("bmctl upgrade with docker down: %s", r)
	}
	field := func(name, section string) string {
		u, err := env.Dynamic.Resource(bmClusterGVR).Namespace(ns).Get(c, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, _, _ := unstructured.NestedString(u.Object, section, "anthosBareMetalVersion")
		return v
	}
	version := func(name string) string { return field(name, "spec") }
	if v, s := version(cluster), field(cluster, "status"); v != "1.12.0" || s != "" {
		t.Fatalf("spec and status version after a refused upgrade: %q %q", v, s)
	}

	dir := t.TempDir()
	// The upgrade's preflight checks alone: nothing changes.
	r = mustRun(t, cmd{tool: "bmctl-1.12.1", args: []string{"check", "preflight", "-c", cluster, "--kubeconfig", kc}, dir: dir})
	wantContains(t, "check preflight", r.stdout, "Please check the logs at bmctl-workspace/"+cluster+"/log/check-preflight-", "Waiting for preflight check job to finish... OK")
	if v, s := version(cluster), field(cluster, "status"); v != "1.12.0" || s != "" {
		t.Fatalf("spec and status version after check preflight: %q %q", v, s)
	}
	r = mustRun(t, cmd{tool: "bmctl-1.12.1", args: []string{"upgrade", "cluster", "-c", cluster, "--kubeconfig", kc}, dir: dir})
	logPath := strings.TrimPrefix(strings.SplitN(r.stdout, "\n", 2)[0], "Please check the logs at ")
	if !strings.HasPrefix(logPath, "bmctl-workspace/"+cluster+"/log/upgrade-cluster-") {
		t.Errorf("log path line: %q", logPath)
	}
	if lb, err := os.ReadFile(filepath.Join(dir, logPath)); err != nil || !strings.Contains(string(lb), "upgraded to 1.12.1") {
		t.Errorf("log file %s: %v\n%s", logPath, err, lb)
	}
	if v, s := version(cluster), field(cluster, "status"); v != "1.12.1" || s != "1.12.1" {
		t.Errorf("spec.anthosBareMetalVersion = %s, status.anthosBareMetalVersion = %s, want 1.12.1 for both (the status once every node is done)", v, s)
	}
	time.Sleep(2 * time.Second) // kwok keeps patching node status; the version must stick
	for _, n := range nodes {
		node, err := env.Clientset.CoreV1().Nodes().Get(c, n, metav1.GetOptions{})
		if err != nil || node.Status.NodeInfo.KubeletVersion != "v1.23.5-gke.1505" {
			t.Errorf("node %s kubelet version %q (%v), want v1.23.5-gke.1505", n, node.Status.NodeInfo.KubeletVersion, err)
		}
	}
	if now, _ := env.Clientset.CoreV1().Nodes().Get(c, "kwok-node-0", metav1.GetOptions{}); shared != nil && now != nil &&
		now.Status.NodeInfo.KubeletVersion != shared.Status.NodeInfo.KubeletVersion {
		t.Errorf("the upgrade of %s touched kwok-node-0, a node of no bare-metal cluster", cluster)
	}
	mustRun(t, cmd{tool: "bmctl-1.12.1", args: []string{"upgrade", "cluster", "-c", cluster, "--kubeconfig", kc}, dir: dir}) // idempotent

	for _, tc := range []struct{ from, want string }{{"1.10.5", "at most one minor version"}, {"1.13.0", "downgrading a cluster is not supported"}} {
		name := kubetest.UniqueName("bm", 30)
		env.CreateBareMetalCluster(t, ns, name, tc.from)
		for _, op := range [][]string{{"check", "preflight"}, {"upgrade", "cluster"}} {
			r := invoke(t, cmd{tool: "bmctl-1.12.1", args: append(op, "-c", name, "--kubeconfig", kc)})
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) || version(name) != tc.from {
				t.Errorf("%v from %s with bmctl 1.12.1: want refusal %q and version unchanged: %s", op, tc.from, tc.want, r)
			}
		}
	}
	if r := invoke(t, cmd{tool: "bmctl-1.12.1", args: []string{"upgrade", "cluster", "-c", "no-such-cluster", "--kubeconfig", kc}}); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown cluster: %s", r)
	}
}

func TestInvocationLog(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, cmd{tool: "istioctl", args: []string{"version", "--remote=false"}, dir: dir})
	invoke(t, cmd{tool: "istioctl", args: []string{"bogus"}, dir: dir})
	mustRun(t, cmd{tool: "asmcli", args: []string{"--version"}, dir: dir})
	mustRun(t, cmd{tool: "systemctl", args: []string{"is-active", "docker"}, dir: dir})
	f, err := os.Open(logFile(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []logEntry
	for s := bufio.NewScanner(f); s.Scan(); {
		var e logEntry
		if err := json.Unmarshal(s.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", s.Text(), err)
		}
		got = append(got, e)
	}
	want := []struct {
		tool string
		exit int
		arg  string
	}{{"istioctl", 0, "version"}, {"istioctl", 64, "bogus"}, {"asmcli", 0, "--version"}, {"systemctl", 0, "is-active"}}
	if len(got) != len(want) {
		t.Fatalf("%d log lines, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Tool != w.tool || g.Exit != w.exit || len(g.Argv) < 2 || g.Argv[1] != w.arg || g.Cwd != dir || g.Time == "" {
			t.Errorf("log line %d = %+v, want tool %s exit %d argv[1] %s cwd %s", i, g, w.tool, w.exit, w.arg, dir)
		}
	}
	if !strings.HasSuffix(got[2].Argv[0], "/asmcli") {
		t.Errorf("asmcli argv[0] = %q, want the script's path", got[2].Argv[0])
	}
}

func TestVersionFiles(t *testing.T) {
	install(t, "istio", "1.8.3-asm.2")
	p := filepath.Join(binDir, "istio-1.8.3-asm.2", "bin", "istioctl")
	if r := mustRun(t, cmd{tool: p, args: []string{"version", "--remote=false"}}); r.stdout != "1.8.3-asm.2\n" {
		t.Errorf("istio-1.8.3-asm.2/bin/istioctl: %s", r)
	}
	// The file beats the environment; the environment beats the default.
	e := []string{"CAIRN_FAKE_VERSION=9.9.9"}
	if r := mustRun(t, cmd{tool: p, args: []string{"version", "--remote=false"}, env: e}); r.stdout != "1.8.3-asm.2\n" {
		t.Errorf("fake-version vs env: %s", r)
	}
	if r := mustRun(t, cmd{tool: "istioctl", args: []string{"version", "--remote=false"}, env: e}); r.stdout != "9.9.9\n" {
		t.Errorf("env: %s", r)
	}
	if _, err := os.Stat(filepath.Join(binDir, "fake-version")); !os.IsNotExist(err) {
		t.Errorf("install.sh must not write a fake-version shared by every tool in %s", binDir)
	}
}
