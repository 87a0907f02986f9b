//go:build integration

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// Procedure E: the in-cluster control plane (istioctl 1.9.1-asm.1, with its
// istio-ingressgateway in istio-system) is replaced by the managed one that
// install_asm (default release 1.11.2-asm.17) sets up as asm-managed-rapid.
// Everything lives under the fixed names the real tools use (istio-system,
// istiod-asm-managed-rapid, the DataPlaneControl CRD), so each test removes
// istio-system and the cluster-scoped objects when it ends.
const (
	mgdOldRelease     = "1.9.1-asm.1"
	mgdManagedRelease = "1.11.2-asm.17"
	mgdRemoteName     = "remote1"
	mgdRemoteContext  = "remote-ctx"
)

var mgdDPC = schema.GroupVersionResource{Group: "mesh.cloud.google.com", Version: "v1alpha1", Resource: "dataplanecontrols"}

type managedWorld struct {
	h          *harness
	oldRev     string   // asm-191-1, or default (plain istiod)
	apps       []string // apps[0], the canary, uses istio-injection=enabled; the others istio.io/rev=OLD
	gwNS       string   // for the new managed gateway
	kubeconfig string   // cairn's: the cluster as GKE context mgdContext, and the remote context
	out        string
	playbook   string
	before     map[string]map[string]string // namespace -> labels before the run
}

func newManagedWorld(t *testing.T, oldRev string) *managedWorld {
	t.Setenv("CAIRN_FAKE_DPC_DELAY", "1s") // inherited by cairn, gcloud and its controller
	h := newHarness(t)
	h.install()
	h.install("istio", mgdOldRelease)
	h.startInjector()
	w := &managedWorld{h: h, oldRev: oldRev, out: filepath.Join(h.dir, "c1"),
		playbook: filepath.Join(repoRoot, "playbooks", "builtin", "asm-managed-migration.yaml"),
		before:   map[string]map[string]string{}}
	t.Cleanup(w.cleanup)
	oldctl := filepath.Join("istio-"+mgdOldRelease, "bin", "istioctl")
	args := []string{"install", "--set", "profile=default", "-y"}
	if oldRev != "default" {
		args = append(args, "--set", "revision="+oldRev)
	}
	h.tool(oldctl, args...)
	if oldRev != "default" {
		// For istio-injection=enabled. istioctl has `tag` from 1.11 (1.9
		// has none): a newer istioctl writes it, as an operator would.
		h.tool("istioctl", "tag", "set", "default", "--revision", oldRev)
	}
	for _, labels := range []map[string]string{{"istio-injection": "enabled"}, {"istio.io/rev": oldRev}, {"istio.io/rev": oldRev}} {
		ns := h.env.Namespace(t, labels)
		w.apps = append(w.apps, ns)
		h.env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", Replicas: 2, ProxyVersion: "0.0.0"})
	}
	w.gwNS = h.env.Namespace(t, nil)
	for _, ns := range append(slices.Clone(w.apps), "istio-system") {
		h.waitProxyTags(ns, mgdOldRelease, 60*time.Second)
	}
	for _, ns := range append(slices.Clone(w.apps), w.gwNS) {
		w.before[ns] = w.ns(ns).Labels
	}
	w.kubeconfig = w.kubeconfigCopy()
	h.kubeconfig = w.kubeconfig // runs are bound to the GKE context
	return w
}

// mgdContext is the GKE context gcloud names the cluster of the params.
const mgdContext = "gke_cairn-e2e-project_us-central1-c_c1"

// kubeconfigCopy copies the cluster's kubeconfig with its context renamed
// to the GKE one (current) and a second context for the same cluster,
// which stands for the remote cluster.
func (w *managedWorld) kubeconfigCopy() string {
	t := w.h.t
	cfg, err := clientcmd.LoadFromFile(w.h.env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur := *cfg.Contexts[cfg.CurrentContext]
	remote := cur
	delete(cfg.Contexts, cfg.CurrentContext)
	cfg.Contexts[mgdContext] = &cur
	cfg.CurrentContext = mgdContext
	cfg.Contexts[mgdRemoteContext] = &remote
	path := filepath.Join(w.h.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (w *managedWorld) cleanup() {
	c := bg(w.h.t)
	cs := w.h.env.Clientset
	// The istio webhooks (not the injectors', named cairn-e2e-...) and the CRD.
	for _, res := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} {
		api := w.h.env.Dynamic.Resource(schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: res})
		if l, err := api.List(c, metav1.ListOptions{}); err == nil {
			for _, o := range l.Items {
				if strings.HasPrefix(o.GetName(), "istio") {
					_ = api.Delete(c, o.GetName(), metav1.DeleteOptions{})
				}
			}
		}
	}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, crd := range []string{"dataplanecontrols.mesh.cloud.google.com", "controlplanerevisions.mesh.cloud.google.com"} {
		_ = w.h.env.Dynamic.Resource(crds).Delete(c, crd, metav1.DeleteOptions{})
	}
	_ = cs.CoreV1().Namespaces().Delete(c, "istio-system", metav1.DeleteOptions{})
	// The next test installs into istio-system again: wait until it is gone.
	err := wait.PollUntilContextTimeout(c, 200*time.Millisecond, 90*time.Second, true, func(c context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(c, "istio-system", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		w.h.t.Errorf("istio-system not deleted: %v", err)
	}
}

func (w *managedWorld) params() []string {
	b := w.h.bins
	return []string{
		"-p", "project=cairn-e2e-project", "-p", "location=us-central1-c", "-p", "cluster=c1",
		"-p", "outputDir=" + w.out, "-p", "kubeconfig=" + w.kubeconfig,
		"-p", "installAsm=" + filepath.Join(b, "install_asm"), "-p", "gcloud=" + filepath.Join(b, "gcloud"),
		"-p", "istioctl=" + filepath.Join(b, "istioctl"),
		"-p", "namespaces=" + strings.Join(w.apps, ","),
		"-p", "oldRev=" + w.oldRev,
		"-p", "gatewayNamespace=" + w.gwNS,
		"-p", "remoteClusters=" + mgdRemoteName + "=" + mgdRemoteContext,
	}
}

// paramsWith is params with some values replaced: NAME, VALUE, ...
func (w *managedWorld) paramsWith(kv ...string) []string {
	p := w.params()
	for i := 0; i+1 < len(kv); i += 2 {
		for j := range p {
			if strings.HasPrefix(p[j], kv[i]+"=") {
				p[j] = kv[i] + "=" + kv[i+1]
			}
		}
	}
	return p
}

func (w *managedWorld) ns(name string) *corev1.Namespace {
	got, err := w.h.env.Clientset.CoreV1().Namespaces().Get(bg(w.h.t), name, metav1.GetOptions{})
	if err != nil {
		w.h.t.Fatal(err)
	}
	return got
}

// mgdKinds are the kinds exists reads.
var mgdKinds = map[string]schema.GroupVersionResource{
	"Deployment":              {Group: "apps", Version: "v1", Resource: "deployments"},
	"Service":                 {Version: "v1", Resource: "services"},
	"Secret":                  {Version: "v1", Resource: "secrets"},
	"HorizontalPodAutoscaler": {Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"},
	"PodDisruptionBudget":     {Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
	"Role":                    {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":             {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
}

// exists reports whether kind/name exists in ns.
func (w *managedWorld) exists(kind, ns, name string) bool {
	_, err := w.h.env.Dynamic.Resource(mgdKinds[kind]).Namespace(ns).Get(bg(w.h.t), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		w.h.t.Fatal(err)
	}
	return err == nil
}

func (w *managedWorld) istiodName() string {
	if w.oldRev == "default" {
		return "istiod"
	}
	return "istiod-" + w.oldRev
}

func (w *managedWorld) assertMigrated(ns string) {
	t := w.h.t
	t.Helper()
	n := w.ns(ns)
	if n.Labels["istio.io/rev"] != "asm-managed-rapid" || n.Labels["istio-injection"] != "" {
		t.Errorf("namespace %s labels %v", ns, n.Labels)
	}
	if got := n.Annotations["mesh.cloud.google.com/proxy"]; got != `{"managed":"true"}` {
		t.Errorf("namespace %s: mesh.cloud.google.com/proxy = %q", ns, got)
	}
	w.h.waitProxyTags(ns, mgdManagedRelease, 30*time.Second)
}

// assertAfter is the state of a finished migration.
func (w *managedWorld) assertAfter() {
	t := w.h.t
	t.Helper()
	for _, ns := range w.apps {
		w.assertMigrated(ns)
	}
	dpc, err := w.h.env.Dynamic.Resource(mgdDPC).Get(bg(t), "asm-managed-rapid", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("DataPlaneControl: %v", err)
	}
	if state, _, _ := unstructured.NestedString(dpc.Object, "status", "state"); state != "READY" {
		t.Errorf("DataPlaneControl state %q, want READY", state)
	}
	w.h.waitProxyTags("istio-system", mgdManagedRelease, 30*time.Second) // the in-cluster gateway
	w.h.waitProxyTags(w.gwNS, mgdManagedRelease, 30*time.Second)         // the new gateway
	for _, kind := range []string{"Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"} {
		if w.exists(kind, "istio-system", w.istiodName()) {
			t.Errorf("%s %s still in istio-system", kind, w.istiodName())
		}
	}
	for _, o := range [][2]string{{"Service", "istio-ingressgateway"}, {"Deployment", "istio-ingressgateway"}, {"Role", "istio-ingressgateway-sds"}, {"RoleBinding", "istio-ingressgateway-sds"}} {
		if !w.exists(o[0], w.gwNS, o[1]) {
			t.Errorf("new gateway: %s %s missing in %s", o[0], o[1], w.gwNS)
		}
	}
	if !w.exists("Secret", "istio-system", "istio-remote-secret-"+mgdRemoteName) {
		t.Errorf("remote secret istio-remote-secret-%s missing", mgdRemoteName)
	}
	if n := w.h.fakeCalls("--mode", "install", "--managed"); n != 1 {
		t.Errorf("install_asm --managed ran %d times, want 1", n)
	}
	if n := w.h.fakeCalls("mesh", "enable"); n != 1 {
		t.Errorf("gcloud mesh enable ran %d times, want 1", n)
	}
}

// runToCanaryGate starts the run and checks it paused at the canary gate
// with the canary migrated and the other namespaces untouched.
func (w *managedWorld) runToCanaryGate() string {
	t := w.h.t
	r := w.h.mustCairn(0, append([]string{"run", w.playbook}, w.params()...)...)
	run := runIDOf(t, r)
	w.assertMigrated(w.apps[0])
	for _, ns := range w.apps[1:] {
		if got := w.ns(ns).Labels; !reflect.DeepEqual(got, w.before[ns]) {
			t.Errorf("namespace %s labels %v at the canary gate, want %v", ns, got, w.before[ns])
		}
		w.h.waitProxyTags(ns, mgdOldRelease, 5*time.Second)
	}
	// The in-cluster gateway moves only after the canary gate.
	w.h.waitProxyTags("istio-system", mgdOldRelease, 5*time.Second)
	return run
}

func TestAsmManagedMigration(t *testing.T) {
	w := newManagedWorld(t, "asm-191-1")
	kubeconfigBefore, err := os.ReadFile(w.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	run := w.runToCanaryGate()
	w.h.mustCairn(0, "approve", run, "canary-ok")
	w.h.mustCairn(0, "resume", run) // to the last gate
	if !w.exists("Deployment", "istio-system", w.istiodName()) {
		t.Fatalf("%s deleted before the last gate", w.istiodName())
	}
	w.h.mustCairn(0, "approve", run, "ready-to-remove-in-cluster")
	w.h.mustCairn(0, "resume", run)
	w.assertAfter()
	// The in-cluster istiod is gone: rollback refuses rather than relabel
	// the namespaces to it, and the cluster stays migrated.
	w.h.assertPastNoReturn(run, "ready-to-remove-in-cluster", "delete-in-cluster-control-plane")
	w.assertAfter()
	// After the canary, the other namespaces one at a time, in order.
	got := w.h.assertItemByItem(run, "migrate-label", "migrate-restart", "migrate-status", "migrate-verify")
	if want := w.apps[1:]; !slices.Equal(got, want) {
		t.Errorf("the other namespaces ran in the order %v, want %v", got, want)
	}
	// gcloud get-credentials wrote into the tools' kubeconfig of the run's
	// cluster, never into the user's.
	if n := w.h.fakeCalls("get-credentials", "c1"); n != 1 {
		t.Errorf("gcloud get-credentials ran %d times, want 1", n)
	}
	if after, err := os.ReadFile(w.kubeconfig); err != nil || !bytes.Equal(after, kubeconfigBefore) {
		t.Errorf("the user's kubeconfig changed during the run (%v)", err)
	}
	// The remote secret holds a token: it is in a mode-600 file, never in the journal.
	sec, err := w.h.env.Clientset.CoreV1().Secrets("istio-system").Get(bg(t), "istio-remote-secret-"+mgdRemoteName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(sec.Data[mgdRemoteName])
	if err != nil {
		t.Fatalf("remote secret kubeconfig: %v", err)
	}
	export := w.h.mustCairn(0, "journal", "export", run).stdout
	for _, ai := range cfg.AuthInfos {
		if ai.Token == "" || strings.Contains(export, ai.Token) {
			t.Errorf("remote secret token empty or in the journal (%d bytes)", len(ai.Token))
		}
	}
	fi, err := os.Stat(filepath.Join(w.out, "istio-remote-secret-"+mgdRemoteName+".yaml"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("remote secret file: %v %v", fi, err)
	}
}

// A managed data plane that reports an error state is not ready: the run
// stops before any namespace is moved (the wait alone would accept it).
func TestAsmManagedMigrationDataPlaneError(t *testing.T) {
	w := newManagedWorld(t, "asm-191-1")
	t.Setenv("CAIRN_FAKE_DPC_STATE", "FAILED_PRECONDITION") // inherited by gcloud's detached controller
	r := w.h.cairn(nil, append([]string{"run", w.playbook}, w.params()...)...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "data-plane-control") || !strings.Contains(r.stdout+r.stderr, "FAILED_PRECONDITION") {
		t.Fatalf("run with a failed data plane: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, ns := range w.apps {
		if got := w.ns(ns).Labels; !reflect.DeepEqual(got, w.before[ns]) {
			t.Errorf("namespace %s relabelled although the data plane failed: %v", ns, got)
		}
	}
}

func TestAsmManagedMigrationRollback(t *testing.T) {
	w := newManagedWorld(t, "asm-191-1")
	run := w.runToCanaryGate()
	w.h.mustCairn(0, "rollback", run)
	for _, ns := range append(slices.Clone(w.apps), w.gwNS) {
		n := w.ns(ns)
		if !reflect.DeepEqual(n.Labels, w.before[ns]) {
			t.Errorf("namespace %s labels %v after rollback, want %v", ns, n.Labels, w.before[ns])
		}
		if v, ok := n.Annotations["mesh.cloud.google.com/proxy"]; ok {
			t.Errorf("namespace %s still annotated mesh.cloud.google.com/proxy=%s", ns, v)
		}
	}
	for _, ns := range append(slices.Clone(w.apps), "istio-system") {
		w.h.waitProxyTags(ns, mgdOldRelease, 30*time.Second)
	}
	// rollout undo of the in-cluster gateway: its pods are the old template's again.
	gw, err := w.h.env.Clientset.AppsV1().Deployments("istio-system").Get(bg(t), "istio-ingressgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := gw.Spec.Template.Labels; l["istio.io/rev"] != w.oldRev || l["sidecar.istio.io/inject"] != "false" {
		t.Errorf("istio-ingressgateway template labels %v after rollback", l)
	}
	if w.exists("Deployment", w.gwNS, "istio-ingressgateway") || w.exists("Role", w.gwNS, "istio-ingressgateway-sds") {
		t.Errorf("new gateway left in %s after rollback", w.gwNS)
	}
	if !w.exists("Deployment", "istio-system", w.istiodName()) {
		t.Errorf("%s gone after rollback", w.istiodName())
	}
}

func TestAsmManagedMigrationRefusals(t *testing.T) {
	w := newManagedWorld(t, "asm-191-1")
	h := w.h
	with := w.paramsWith
	dual := "" // the namespace with both injection labels
	cases := []struct {
		name, want string
		params     []string
		setup      func()
		env        []string
	}{
		{"bound to another context", "cairn is bound to context " + mgdRemoteContext + ", but install_asm and gcloud act on GKE cluster c1", append(w.params(), "--context", mgdRemoteContext), nil, nil},
		{"no Workload Identity", "Workload Identity is not enabled", w.params(), nil, []string{"CAIRN_FAKE_GKE_WORKLOAD_POOL="}},
		{"old control plane missing", "asm-999-9", with("oldRev", "asm-999-9"), nil, nil},
		{"gateway in istio-system", "do not deploy gateways in istio-system", with("gatewayNamespace", "istio-system"), nil, nil},
		{"both injection labels", "istio-injection", w.params(), func() {
			dual = h.env.Namespace(t, map[string]string{"istio-injection": "enabled", "istio.io/rev": w.oldRev})
		}, nil},
	}
	for _, c := range cases {
		if c.setup != nil {
			c.setup()
		}
		r := h.cairn(c.env, append([]string{"run", w.playbook}, c.params...)...)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Errorf("%s: exit %d, want 1 mentioning %q\n%s\n%s", c.name, r.code, c.want, r.stdout, r.stderr)
		}
		if n := h.fakeCalls("--managed"); n != 0 {
			t.Fatalf("%s: install_asm ran %d times", c.name, n)
		}
	}
	for _, ns := range w.apps {
		if got := w.ns(ns).Labels; !reflect.DeepEqual(got, w.before[ns]) {
			t.Errorf("namespace %s labels changed by a refused run: %v", ns, got)
		}
	}
	// Without inClusterGateway, the gateway in istio-system stays on the old
	// istiod, so the run must stop before deleting it. (This also runs the
	// playbook with no new gateway and no remote clusters.)
	patch := []byte(`{"metadata":{"labels":{"istio.io/rev":null}}}`)
	if _, err := h.env.Clientset.CoreV1().Namespaces().Patch(bg(t), dual, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	params := append(w.paramsWith("gatewayNamespace", "", "remoteClusters", ""), "-p", "inClusterGateway=")
	run := runIDOf(t, h.mustCairn(0, append([]string{"run", w.playbook}, params...)...))
	for _, gate := range []string{"canary-ok", "ready-to-remove-in-cluster"} {
		h.mustCairn(0, "approve", run, gate)
		r := h.cairn(nil, "resume", run)
		if gate == "canary-ok" && r.code != 0 {
			t.Fatalf("resume after canary-ok: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if gate != "canary-ok" && (r.code != 1 || !strings.Contains(r.stderr, "no-proxies-on-old") || !strings.Contains(r.stderr, "istio-ingressgateway")) {
			t.Errorf("old istiod removal with the gateway still on it: exit %d\n%s", r.code, r.stderr)
		}
	}
	if !w.exists("Deployment", "istio-system", w.istiodName()) {
		t.Errorf("%s deleted while the gateway still used it", w.istiodName())
	}
	for _, ns := range w.apps {
		w.assertMigrated(ns)
	}
	if w.exists("Secret", "istio-system", "istio-remote-secret-"+mgdRemoteName) || w.exists("Deployment", w.gwNS, "istio-ingressgateway") {
		t.Errorf("a remote secret or new gateway without remoteClusters or gatewayNamespace")
	}
}

// TestAsmManagedMigrationCrashes: see TestIstioCanaryTagsCrashes. The old
// control plane is the default revision here (plain istiod).
func TestAsmManagedMigrationCrashes(t *testing.T) {
	for _, k := range crashEvery {
		t.Run(fmt.Sprintf("kill-after-%d", k), func(t *testing.T) {
			w := newManagedWorld(t, "default")
			run := w.h.runWithCrashes(k, w.playbook, w.params(), "canary-ok", "ready-to-remove-in-cluster")
			w.h.assertNoRerun(run)
			w.assertAfter()
			for _, ns := range w.apps {
				for dep, n := range w.h.replicaSets(ns) {
					if n != 2 {
						t.Errorf("%s/%s has %d ReplicaSets, want 2 (exactly one restart)", ns, dep, n)
					}
				}
			}
			if n := w.h.replicaSets("istio-system")["istio-ingressgateway"]; n != 2 {
				t.Errorf("istio-system/istio-ingressgateway has %d ReplicaSets, want 2 (changed once)", n)
			}
			if n := w.h.replicaSets(w.gwNS)["istio-ingressgateway"]; n != 1 {
				t.Errorf("%s/istio-ingressgateway has %d ReplicaSets, want 1 (created once)", w.gwNS, n)
			}
		})
	}
}
