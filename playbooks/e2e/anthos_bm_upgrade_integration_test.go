//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// The kubelet versions the bmctl double gives each release's nodes.
const (
	bmKubelet1_11 = "v1.22.8-gke.200"
	bmKubelet1_12 = "v1.23.5-gke.1504" // 1.12.0
	bmKubeletNew  = "v1.23.5-gke.1505" // 1.12.x, x > 0
	bmTarget      = "1.12.1"
)

// bmWorld is the BEFORE state of procedure D: a baremetal Cluster object at
// an older release in a namespace of its own, three kwok nodes of that
// cluster (one control plane) running the old kubelet, a running workload,
// the bmctl of the target release and the baremetal working directory.
type bmWorld struct {
	h                *harness
	ns, cluster      string
	nodes            []string // control-plane node first
	workdir, bmctl   string
	playbook, before string
}

func newBmWorld(t *testing.T, before, kubelet string) *bmWorld {
	h := newHarness(t)
	h.install("bmctl", bmTarget)
	w := &bmWorld{h: h, before: before, cluster: kubetest.UniqueName("bm", 30),
		workdir:  filepath.Join(h.dir, "baremetal"),
		bmctl:    filepath.Join(h.bins, "bmctl-"+bmTarget),
		playbook: filepath.Join(repoRoot, "playbooks", "builtin", "anthos-bm-upgrade.yaml")}
	if err := os.MkdirAll(w.workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The playbook checks the pods of all namespaces: the next test's run
	// must not find this one's still terminating. Registered first, so it
	// runs after the namespace's own cleanup has deleted it.
	t.Cleanup(func() { w.waitNamespaceGone() })
	w.ns = h.env.Namespace(t, nil)
	h.env.CreateBareMetalCluster(t, w.ns, w.cluster, before)
	for i, role := range []string{"control-plane", "worker", "worker"} {
		w.nodes = append(w.nodes, w.createNode(fmt.Sprintf("%s-%s-%d", w.cluster, role, i), role, kubelet))
	}
	h.env.CreateWorkload(t, w.ns, kubetest.Workload{Name: "app", Replicas: 2, ProxyVersion: "1.14.0-asm.1"})
	h.env.WaitDeploymentAvailable(t, w.ns, "app", 60*time.Second)
	return w
}

// waitNamespaceGone waits up to a minute for the test's namespace, and so
// its pods, to be gone.
func (w *bmWorld) waitNamespaceGone() {
	if w.ns == "" {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(c, 200*time.Millisecond, true, func(c context.Context) (bool, error) {
		_, err := w.h.env.Clientset.CoreV1().Namespaces().Get(c, w.ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		w.h.t.Logf("namespace %s not gone after a minute: %v", w.ns, err)
	}
}

// createNode makes a kwok node of the cluster, tainted so that no pod of
// this or another test lands on it; nodes are cluster-scoped, so it is
// deleted when the test ends.
func (w *bmWorld) createNode(name, role, kubelet string) string {
	labels := map[string]string{"baremetal.cluster.gke.io/cluster": w.cluster, "type": "kwok"}
	if role == "control-plane" {
		labels["node-role.kubernetes.io/control-plane"] = ""
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "cairn.dev/test-node", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: kubelet, KubeProxyVersion: kubelet},
			Capacity: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")},
		},
	}
	if _, err := w.h.env.Clientset.CoreV1().Nodes().Create(bg(w.h.t), n, metav1.CreateOptions{}); err != nil {
		w.h.t.Fatal(err)
	}
	w.h.t.Cleanup(func() {
		_ = w.h.env.Clientset.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func (w *bmWorld) params(extra ...string) []string {
	return append([]string{
		"-p", "bmctl=" + w.bmctl,
		"-p", "cluster=" + w.cluster,
		"-p", "workdir=" + w.workdir,
		"-p", "targetVersion=" + bmTarget,
		"-p", "nodeSelector=baremetal.cluster.gke.io/cluster=" + w.cluster,
		"-p", "systemctl=" + filepath.Join(w.h.bins, "systemctl"),
	}, extra...)
}

// versions reads the Cluster's spec and status anthosBareMetalVersion.
func (w *bmWorld) versions() (spec, status string) {
	u, err := w.h.env.Dynamic.Resource(kubetest.BareMetalClusterGVR).Namespace(w.ns).Get(bg(w.h.t), w.cluster, metav1.GetOptions{})
	if err != nil {
		w.h.t.Fatal(err)
	}
	spec, _, _ = unstructured.NestedString(u.Object, "spec", "anthosBareMetalVersion")
	status, _, _ = unstructured.NestedString(u.Object, "status", "anthosBareMetalVersion")
	return spec, status
}

// kubelets maps each node of the cluster to its kubelet version.
func (w *bmWorld) kubelets() map[string]string {
	got := map[string]string{}
	for _, n := range w.nodes {
		node, err := w.h.env.Clientset.CoreV1().Nodes().Get(bg(w.h.t), n, metav1.GetOptions{})
		if err != nil {
			w.h.t.Fatal(err)
		}
		got[n] = node.Status.NodeInfo.KubeletVersion
	}
	return got
}

// assertState fails unless the Cluster's spec is spec and every node runs kubelet.
func (w *bmWorld) assertState(when, spec, kubelet string) {
	w.h.t.Helper()
	if got, _ := w.versions(); got != spec {
		w.h.t.Errorf("%s: spec.anthosBareMetalVersion %s, want %s", when, got, spec)
	}
	for n, v := range w.kubelets() {
		if v != kubelet {
			w.h.t.Errorf("%s: node %s kubelet %s, want %s", when, n, v, kubelet)
		}
	}
}

// assertUpgraded checks the AFTER state of an uninterrupted run.
func (w *bmWorld) assertUpgraded() {
	w.h.t.Helper()
	w.assertState("after the upgrade", bmTarget, bmKubeletNew)
	if _, status := w.versions(); status != bmTarget {
		w.h.t.Errorf("status.anthosBareMetalVersion %s, want %s", status, bmTarget)
	}
	if n := w.h.fakeCalls("upgrade", "cluster"); n != 1 {
		w.h.t.Errorf("bmctl upgrade cluster ran %d times, want exactly 1", n)
	}
}

// output returns a step's output from the journal of run.
func (w *bmWorld) output(run, step, name string) string {
	for _, ev := range w.h.events(run) {
		if ev["step"] != step || (ev["type"] != "instance.succeeded" && ev["type"] != "instance.checked") {
			continue
		}
		if outs, ok := ev["outputs"].(map[string]any); ok {
			if v, ok := outs[name].(string); ok {
				return v
			}
		}
	}
	return ""
}

// eventIndex is the position of the first event of type typ for step, or -1.
func bmEventIndex(evs []map[string]any, typ, step string) int {
	for i, ev := range evs {
		if ev["type"] == typ && ev["step"] == step {
			return i
		}
	}
	return -1
}

// TestAnthosBmUpgrade upgrades 1.11.x -> 1.12.1 (the kubelet minor version
// changes), approving the gate, and checks the journaled evidence; then a
// rollback must refuse and say why.
func TestAnthosBmUpgrade(t *testing.T) {
	w := newBmWorld(t, "1.11.5", bmKubelet1_11)
	r := w.h.mustCairn(0, append([]string{"run", w.playbook}, w.params()...)...)
	run := runIDOf(t, r)
	if !strings.Contains(r.stdout, "approve-upgrade: bmctl upgrade cluster "+w.cluster+": 1.11.5 -> "+bmTarget+" (minor) cannot be undone") {
		t.Errorf("the gate's message does not state the plan:\n%s", r.stdout)
	}
	w.assertState("at the gate", "1.11.5", bmKubelet1_11)
	if n := w.h.fakeCalls("upgrade", "cluster"); n != 0 {
		t.Fatalf("bmctl upgrade ran %d times before the gate was approved", n)
	}
	// bmctl's upgrade preflight ran before the point of no return.
	if n := w.h.fakeCalls("check", "preflight", "-c", w.cluster, "--kubeconfig"); n != 1 {
		t.Errorf("bmctl check preflight ran %d times before the gate, want 1", n)
	}
	w.h.mustCairn(0, "approve", run, "approve-upgrade", "--comment", "backup taken")
	w.h.mustCairn(0, "resume", run)
	w.assertUpgraded()

	evs := w.h.events(run)
	upgrade := bmEventIndex(evs, "instance.started", "upgrade")
	for _, step := range []string{"bmctl-is-target", "cluster-before", "upgrade-path", "docker-running", "preflight", "nodes-before", "pods-before", "approve-upgrade", "cluster-unchanged"} {
		if i := bmEventIndex(evs, "instance.succeeded", step); i < 0 || i > upgrade {
			t.Errorf("preflight %s succeeded at event %d, the upgrade started at %d", step, i, upgrade)
		}
	}
	for _, step := range []string{"verify-cluster", "verify-nodes", "verify-nodes-ready", "verify-pods"} {
		if i := bmEventIndex(evs, "instance.succeeded", step); i < upgrade {
			t.Errorf("%s succeeded at event %d, before the upgrade (%d)", step, i, upgrade)
		}
	}
	if got := w.output(run, "cluster-before", "version"); got != "1.11.5" {
		t.Errorf("journaled version before the upgrade %q, want 1.11.5", got)
	}
	if i := bmEventIndex(evs, "instance.succeeded", "nodes-before"); i < 0 || !strings.Contains(fmt.Sprint(evs[i]["evidence"]), bmKubelet1_11+" on 3") {
		t.Errorf("the nodes' versions before the upgrade are not in the journal: %v", evs[max(i, 0)]["evidence"])
	}
	if i := bmEventIndex(evs, "instance.succeeded", "verify-nodes"); i < 0 || !strings.Contains(fmt.Sprint(evs[i]["evidence"]), bmKubeletNew+" on 3") {
		t.Errorf("the nodes' versions after the upgrade are not in the journal")
	}
	logPath := w.output(run, "upgrade", "logPath")
	if !strings.HasPrefix(logPath, "bmctl-workspace/"+w.cluster+"/log/upgrade-cluster-") {
		t.Errorf("journaled logPath %q", logPath)
	} else if b, err := os.ReadFile(filepath.Join(w.workdir, logPath)); err != nil || !strings.Contains(string(b), "upgraded to "+bmTarget) {
		t.Errorf("bmctl's log %s, relative to workdir: %v\n%s", logPath, err, b)
	}
	if show := w.h.mustCairn(0, "show", run); !strings.Contains(show.stdout, logPath) {
		t.Errorf("cairn show does not show the log path:\n%s", show.stdout)
	}

	// bmctl acted on the run's cluster, through the kubeconfig cairn wrote
	// for it, not on a file named by a parameter.
	if n := w.h.fakeCalls(w.bmctl, "--kubeconfig", w.h.env.Kubeconfig); n != 0 {
		t.Errorf("bmctl got the user's kubeconfig %d times, want the run's", n)
	}
	// No rollback once bmctl has run: it refuses, says why and what to do
	// instead, and changes nothing.
	w.h.assertPastNoReturn(run, "approve-upgrade", "upgrade")
	if rb := w.h.cairn(nil, "rollback", run); !strings.Contains(rb.stderr, "cannot downgrade a cluster") || !strings.Contains(rb.stderr, "bmctl restore cluster") {
		t.Errorf("rollback after the upgrade does not say why and what to do instead:\n%s", rb.stderr)
	}
	w.assertUpgraded()
}

// TestAnthosBmUpgradeRefusals: each preflight stops the run with its
// message before bmctl upgrade runs.
func TestAnthosBmUpgradeRefusals(t *testing.T) {
	w := newBmWorld(t, "1.12.0", bmKubelet1_12)
	w.h.install("bmctl", "1.12.0")
	skipped := kubetest.UniqueName("bm-old", 30)
	w.h.env.CreateBareMetalCluster(t, w.ns, skipped, "1.10.5")
	newer := kubetest.UniqueName("bm-new", 30)
	w.h.env.CreateBareMetalCluster(t, w.ns, newer, "1.13.0")
	for _, tc := range []struct {
		name   string
		env    []string
		params []string
		want   string
	}{
		{"bmctl of another release", nil, []string{"-p", "bmctl=" + filepath.Join(w.h.bins, "bmctl-1.12.0")}, "is bmctl 1.12.0, not " + bmTarget + ": download the bmctl of " + bmTarget},
		{"docker down", []string{"CAIRN_FAKE_DOCKER=inactive"}, nil, "docker is inactive on this workstation"},
		{"no such Cluster", nil, []string{"-p", "cluster=" + kubetest.UniqueName("missing", 30)}, "expected 1, found 0"},
		{"a skipped minor version", nil, []string{"-p", "cluster=" + skipped}, "bmctl upgrades one minor version at a time, so upgrade to 1.11.x first"},
		{"a downgrade", nil, []string{"-p", "cluster=" + newer}, "bmctl cannot downgrade a cluster"},
		{"no Kubernetes version in the map", nil, []string{"-p", "versionMap=1.11=v1.22.8-gke"}, "versionMap has no Kubernetes version for Anthos 1.12.x"},
	} {
		r := w.h.cairn(tc.env, append([]string{"run", w.playbook}, w.params(tc.params...)...)...)
		if out := r.stdout + r.stderr; r.code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want 1 with %q\n%s", tc.name, r.code, tc.want, out)
		}
		if n := w.h.fakeCalls("upgrade", "cluster"); n != 0 {
			t.Fatalf("%s: bmctl upgrade ran %d times", tc.name, n)
		}
	}
	w.assertState("after the refusals", "1.12.0", bmKubelet1_12)
}

// TestAnthosBmUpgradeRollbackAtGate: rolling back at the gate changes
// nothing, and the journal shows that the Cluster was confirmed unchanged.
// If the Cluster changed while the gate waited, the approved plan is stale:
// the run stops before bmctl, and rollback says the Cluster is no longer
// at the version the run started from.
func TestAnthosBmUpgradeRollbackAtGate(t *testing.T) {
	t.Run("unchanged", func(t *testing.T) {
		w := newBmWorld(t, "1.12.0", bmKubelet1_12)
		run := runIDOf(t, w.h.mustCairn(0, append([]string{"run", w.playbook}, w.params()...)...))
		r := w.h.mustCairn(0, "rollback", run)
		if !strings.Contains(r.stdout, "run "+run+" rolled back") {
			t.Errorf("rollback output:\n%s\n%s", r.stdout, r.stderr)
		}
		w.assertState("after the rollback", "1.12.0", bmKubelet1_12)
		if n := w.h.fakeCalls("upgrade", "cluster"); n != 0 {
			t.Errorf("bmctl upgrade ran %d times", n)
		}
		evs := w.h.events(run)
		if i := bmEventIndex(evs, "undo.succeeded", "cluster-before"); i < 0 || !strings.Contains(fmt.Sprint(evs[i]["evidence"]), `spec.anthosBareMetalVersion="1.12.0"`) {
			t.Errorf("the rollback did not confirm the Cluster's version: %v", evs[max(i, 0)])
		}
		if r := w.h.cairn(nil, "resume", run); r.code != 4 {
			t.Errorf("resume after the rollback: exit %d, want 4\n%s", r.code, r.stderr)
		}
	})
	t.Run("changed while the gate waited", func(t *testing.T) {
		w := newBmWorld(t, "1.12.0", bmKubelet1_12)
		run := runIDOf(t, w.h.mustCairn(0, append([]string{"run", w.playbook}, w.params()...)...))
		patch := []byte(`{"spec":{"anthosBareMetalVersion":"` + bmTarget + `"}}`)
		if _, err := w.h.env.Dynamic.Resource(kubetest.BareMetalClusterGVR).Namespace(w.ns).Patch(bg(t), w.cluster, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		w.h.mustCairn(0, "approve", run, "approve-upgrade")
		stale := `spec.anthosBareMetalVersion != "1.12.0": ` + w.ns + "/" + w.cluster + ` ("` + bmTarget + `")`
		if r := w.h.cairn(nil, "resume", run); r.code != 1 || !strings.Contains(r.stderr, "step cluster-unchanged") || !strings.Contains(r.stderr, stale) {
			t.Errorf("resume after the Cluster changed: exit %d, want 1 from cluster-unchanged\n%s", r.code, r.stderr)
		}
		if n := w.h.fakeCalls("upgrade", "cluster"); n != 0 {
			t.Errorf("bmctl upgrade ran %d times", n)
		}
		if r := w.h.cairn(nil, "rollback", run); r.code != 1 || !strings.Contains(r.stderr, "undo cluster-before") || !strings.Contains(r.stderr, stale) {
			t.Errorf("rollback after the Cluster changed: exit %d, want 1 from the undo of cluster-before\n%s", r.code, r.stderr)
		}
	})
}

// TestAnthosBmUpgradeCrashes: see TestIstioCanaryTagsCrashes. A kill never
// lands while bmctl runs (kills follow journal commits), so a resumed
// upgrade step either finds the Cluster's status at the target (done) or
// never started bmctl: bmctl upgrade must run exactly once.
func TestAnthosBmUpgradeCrashes(t *testing.T) {
	for _, k := range crashEvery {
		t.Run(fmt.Sprintf("kill-after-%d", k), func(t *testing.T) {
			w := newBmWorld(t, "1.12.0", bmKubelet1_12)
			run := w.h.runWithCrashes(k, w.playbook, w.params(), "approve-upgrade")
			w.assertUpgraded()
			w.h.assertNoRerun(run)
			if got := w.output(run, "cluster-before", "version"); got != "1.12.0" {
				t.Errorf("journaled version before the upgrade %q, want 1.12.0", got)
			}
		})
	}
}

// runUntilUpgradeStarted crashes the run (failpoint CAIRN_KILL_AT, see
// cmd/cairn/failpoint.go) right after it journals the start of the upgrade
// step, before bmctl ran: the state a kill during bmctl leaves in the
// journal (cairn's children die with it). Gates on the way are approved.
func (w *bmWorld) runUntilUpgradeStarted() string {
	t := w.h.t
	t.Helper()
	kill := []string{"CAIRN_KILL_AT=instance.started:upgrade"}
	r := w.h.cairn(kill, append([]string{"run", w.playbook}, w.params()...)...)
	run := w.h.lastRun()
	for i := 0; i < 10; i++ {
		evs := w.h.events(run)
		last := evs[len(evs)-1]
		switch {
		case last["type"] == "instance.started" && last["step"] == "upgrade":
			if n := w.h.fakeCalls("upgrade", "cluster"); n != 0 {
				t.Fatalf("bmctl upgrade ran %d times before the kill", n)
			}
			return run
		case r.code != 0 || hasEvent(evs, "run.succeeded"):
			t.Fatalf("never killed right after the upgrade started (exit %d)\n%s", r.code, r.stderr)
		case last["type"] == "gate.waiting":
			w.h.mustCairn(0, "approve", run, last["step"].(string))
		}
		r = w.h.cairn(kill, "resume", run)
	}
	t.Fatal("the run never reached the upgrade step")
	return ""
}

// TestAnthosBmUpgradeResumeAfterKillDuringUpgrade: cairn died while bmctl
// ran. If bmctl had finished, resume records the step as done without
// running bmctl again; if it had stopped halfway (Cluster spec at the
// target, a node left behind), resume runs bmctl again, which completes it.
func TestAnthosBmUpgradeResumeAfterKillDuringUpgrade(t *testing.T) {
	t.Run("bmctl had finished", func(t *testing.T) {
		w := newBmWorld(t, "1.12.0", bmKubelet1_12)
		run := w.runUntilUpgradeStarted()
		// By hand, from the working directory, and not in the invocation log.
		bmctl := exec.Command(w.bmctl, "upgrade", "cluster", "-c", w.cluster, "--kubeconfig", w.h.env.Kubeconfig)
		bmctl.Dir = w.workdir
		if out, err := bmctl.CombinedOutput(); err != nil {
			t.Fatalf("bmctl upgrade by hand: %v\n%s", err, out)
		}
		w.h.mustCairn(0, "resume", run)
		if i := bmEventIndex(w.h.events(run), "instance.checked", "upgrade"); i < 0 {
			t.Errorf("the finished upgrade was not recognised by its check")
		}
		if n := w.h.fakeCalls("upgrade", "cluster"); n != 0 {
			t.Errorf("bmctl upgrade ran %d times after the resume, want 0: it had finished", n)
		}
		w.assertState("after the resume", bmTarget, bmKubeletNew)
	})
	t.Run("bmctl stopped halfway", func(t *testing.T) {
		w := newBmWorld(t, "1.12.0", bmKubelet1_12)
		run := w.runUntilUpgradeStarted()
		c := bg(t)
		patch := []byte(`{"spec":{"anthosBareMetalVersion":"` + bmTarget + `"}}`)
		if _, err := w.h.env.Dynamic.Resource(kubetest.BareMetalClusterGVR).Namespace(w.ns).Patch(c, w.cluster, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		node := []byte(`{"status":{"nodeInfo":{"kubeletVersion":"` + bmKubeletNew + `"}}}`)
		if _, err := w.h.env.Clientset.CoreV1().Nodes().Patch(c, w.nodes[0], types.StrategicMergePatchType, node, metav1.PatchOptions{}, "status"); err != nil {
			t.Fatal(err)
		}
		w.h.mustCairn(0, "resume", run)
		w.assertUpgraded()
	})
}
