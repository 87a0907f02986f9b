package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var bmClusterGVR = schema.GroupVersionResource{Group: "baremetal.cluster.gke.io", Version: "v1", Resource: "clusters"}

// labelBMCluster, when some nodes carry it, limits an upgrade to the nodes
// of that cluster (tests make their own kwok nodes); otherwise every node
// of the API server belongs to the cluster being upgraded.
const labelBMCluster = "baremetal.cluster.gke.io/cluster"

// kubeletVersion is the Kubernetes version an Anthos on bare metal release
// runs (1.11 -> v1.22.8-gke.*, 1.12 -> v1.23.5-gke.*).
func kubeletVersion(abm semver) string {
	switch {
	case abm.major == 1 && abm.minor == 10:
		return "v1.21.5-gke.1200"
	case abm.major == 1 && abm.minor == 11:
		return "v1.22.8-gke.200"
	case abm.major == 1 && abm.minor == 12 && abm.patch == 0:
		return "v1.23.5-gke.1504"
	case abm.major == 1 && abm.minor == 12:
		return "v1.23.5-gke.1505"
	case abm.major == 1 && abm.minor == 13:
		return "v1.24.2-gke.1900"
	case abm.major == 1 && abm.minor == 14:
		return "v1.25.5-gke.100"
	}
	return fmt.Sprintf("v1.%d.0-gke.0", abm.minor+11)
}

func bmctlFullVersion(v string) string {
	if strings.Contains(v, "-gke.") {
		return v
	}
	return v + "-gke.33"
}

func runBmctl(inv *invocation) int {
	version := inv.version()
	f, err := parseFlags(inv.args, []flag{strFlag("cluster", "c"), strFlag("kubeconfig", "admin-kubeconfig"), boolFlag("reuse-bootstrap-cluster"),
		boolFlag("quiet", "q"), strFlag("v"), strFlag("log-file"), boolFlag("force"), strFlag("check-image-version")}, parseOpts{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	switch strings.Join(f.args, " ") {
	case "version":
		// As printed by the real one (public transcripts of 1.14 and 1.16):
		// its log prefix, then the version line.
		bmLog{w: os.Stdout}.printf("bmctl version: %s, git commit: 5f0a3b1c2d4e8f9a0b1c2d3e4f5a6b7c8d9e0f1a, build date: Thu Jul 14 18:02:11 PDT 2022", bmctlFullVersion(version))
		return 0
	case "check preflight":
		if err := bmctlPreflight(f, version); err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return 1
		}
		return 0
	case "upgrade cluster":
		if err := bmctlUpgrade(f, version); err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return 1
		}
		return 0
	case "":
		fmt.Fprintln(os.Stderr, "Error: bmctl (fake) needs a command: version, check preflight, upgrade cluster")
		return 1
	}
	fmt.Fprintf(os.Stderr, "Error: unknown command %q for \"bmctl\"\nRun 'bmctl --help' for usage.\n", strings.Join(f.args, " "))
	return 1
}

type bmLog struct {
	w io.Writer
}

func (l bmLog) printf(format string, a ...any) {
	fmt.Fprintf(l.w, "[%s] %s\n", time.Now().Format("2006-01-02 15:04:05-0700"), fmt.Sprintf(format, a...))
}

// bmRun is one bmctl operation on a cluster: its log file under
// bmctl-workspace/CLUSTER/log/OP-TIMESTAMP/, and the Cluster object.
type bmRun struct {
	cluster string
	k       *kube
	obj     *unstructured.Unstructured
	cur     semver
	curStr  string
	to      semver
	log     bmLog
	lf      *os.File
}

func (r *bmRun) fail(err error) error {
	fmt.Fprintf(r.lf, "Error: %v\n", err)
	return err
}

// startBmRun checks what both `check preflight` and `upgrade cluster` need
// before anything changes: the kubeconfig, docker (the kind bootstrap
// cluster of 1.12), the Cluster object, and that bmctl's own version is
// an upgrade of at most one minor version from the Cluster's.
func startBmRun(f *flags, version, op string) (*bmRun, error) {
	cluster := f.str("cluster")
	if cluster == "" {
		return nil, fmt.Errorf(`required flag(s) "cluster" not set`)
	}
	kc := f.str("kubeconfig")
	if kc == "" {
		kc = filepath.Join("bmctl-workspace", cluster, cluster+"-kubeconfig")
	}
	if _, err := os.Stat(kc); err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig: %v", err)
	}
	logDir := filepath.Join("bmctl-workspace", cluster, "log", op+"-"+time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, op+".log")
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Printf("Please check the logs at %s\n", logPath)
	r := &bmRun{cluster: cluster, lf: lf, log: bmLog{w: io.MultiWriter(os.Stdout, lf)}}
	if os.Getenv(envFakeDocker) == "inactive" {
		r.log.printf("Creating bootstrap cluster... FAILED")
		return r, r.fail(fmt.Errorf("failed to create bootstrap cluster: kind: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"))
	}
	to, ok := parseVersion(version)
	if !ok {
		return r, r.fail(fmt.Errorf("invalid bmctl version %q", version))
	}
	r.to = to
	if r.k, err = newKube(kc, ""); err != nil {
		return r, r.fail(fmt.Errorf("failed to load kubeconfig: %v", err))
	}
	list, err := r.k.dyn.Resource(bmClusterGVR).List(r.k.ctx, metav1.ListOptions{})
	if err != nil {
		return r, r.fail(fmt.Errorf("failed to get cluster %q: %v", cluster, err))
	}
	for i := range list.Items {
		if it := &list.Items[i]; it.GetName() == cluster && (r.obj == nil || it.GetNamespace() == "cluster-"+cluster) {
			r.obj = it
		}
	}
	if r.obj == nil {
		return r, r.fail(fmt.Errorf(`failed to get cluster %q: clusters.baremetal.cluster.gke.io %q not found`, cluster, cluster))
	}
	r.curStr, _, _ = unstructured.NestedString(r.obj.Object, "spec", "anthosBareMetalVersion")
	if r.cur, ok = parseVersion(r.curStr); !ok {
		return r, r.fail(fmt.Errorf("cluster %s has an invalid anthosBareMetalVersion %q", cluster, r.curStr))
	}
	switch {
	case to.less(r.cur):
		return r, r.fail(fmt.Errorf("cluster %s is at version %s, newer than bmctl %s: downgrading a cluster is not supported", cluster, r.curStr, version))
	case to.major != r.cur.major || to.minor-r.cur.minor > 1:
		return r, r.fail(fmt.Errorf("upgrading cluster %s from %s to %s is not supported: a cluster can be upgraded by at most one minor version at a time (to %d.%d.x); use bmctl %d.%d first",
			cluster, r.curStr, version, r.cur.major, r.cur.minor+1, r.cur.major, r.cur.minor+1))
	}
	r.log.printf("Creating bootstrap cluster... OK")
	r.log.printf("Installing dependency components... OK")
	r.log.printf("Waiting for preflight check job to finish... OK")
	r.log.printf("- Validation Category: machines and network")
	r.log.printf("\t- [PASSED] pod-cidr")
	r.log.printf("\t- [PASSED] node-network")
	r.log.printf("Flushing logs... OK")
	return r, nil
}

// bmctlPreflight is `bmctl check preflight -c CLUSTER --kubeconfig K` (the
// docs' "Preflight checks for upgrades"): the checks of an upgrade, no
// change.
func bmctlPreflight(f *flags, version string) error {
	r, err := startBmRun(f, version, "check-preflight")
	if r != nil {
		defer r.lf.Close()
	}
	if err != nil {
		return err
	}
	r.log.printf("Deleting bootstrap cluster... OK")
	return nil
}

// bmctlUpgrade upgrades the baremetal Cluster CLUSTER to bmctl's own version,
// as the real one does: spec.anthosBareMetalVersion, then every node's
// kubelet version (status.nodeInfo, what `kubectl get node -o wide` shows),
// control-plane nodes first. It writes its log under the working directory
// in bmctl-workspace/CLUSTER/log/upgrade-cluster-TIMESTAMP/.
func bmctlUpgrade(f *flags, version string) error {
	r, err := startBmRun(f, version, "upgrade-cluster")
	if r != nil {
		defer r.lf.Close()
	}
	if err != nil {
		return err
	}
	k, cluster, obj, curStr, to, log, fail := r.k, r.cluster, r.obj, r.curStr, r.to, r.log, r.fail
	if curStr != version {
		log.printf("Upgrading cluster %s/%s from %s to %s...", obj.GetNamespace(), cluster, curStr, version)
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"anthosBareMetalVersion": version}})
		if _, err := k.dyn.Resource(bmClusterGVR).Namespace(obj.GetNamespace()).Patch(k.ctx, cluster, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fail(fmt.Errorf("failed to upgrade cluster %s: %v", cluster, err))
		}
	} else {
		log.printf("Cluster %s is at version %s; checking that every node runs it", cluster, version)
	}
	nodes, err := clusterNodes(k, cluster)
	if err != nil {
		return fail(err)
	}
	want := kubeletVersion(to)
	for _, n := range nodes {
		if n.Status.NodeInfo.KubeletVersion == want {
			continue
		}
		log.printf("Upgrading node %s to %s...", n.Name, want)
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"nodeInfo": map[string]any{"kubeletVersion": want, "kubeProxyVersion": want}}})
		if _, err := k.cs.CoreV1().Nodes().Patch(k.ctx, n.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return fail(fmt.Errorf("failed to upgrade node %s: %v", n.Name, err))
		}
		time.Sleep(200 * time.Millisecond)
		log.printf("Node %s upgraded... OK", n.Name)
	}
	// The status follows only once every node runs the release: it is what
	// says that an upgrade finished (a playbook's check reads it).
	status, _ := json.Marshal(map[string]any{"status": map[string]any{"anthosBareMetalVersion": version}})
	if _, err := k.dyn.Resource(bmClusterGVR).Namespace(obj.GetNamespace()).Patch(k.ctx, cluster, types.MergePatchType, status, metav1.PatchOptions{}); err != nil {
		return fail(fmt.Errorf("failed to update the status of cluster %s: %v", cluster, err))
	}
	log.printf("Deleting bootstrap cluster... OK")
	log.printf("Cluster %s upgraded to %s", cluster, version)
	return nil
}

// clusterNodes are the nodes of the cluster, control-plane ones first.
func clusterNodes(k *kube, cluster string) ([]corev1.Node, error) {
	l, err := k.cs.CoreV1().Nodes().List(k.ctx, metav1.ListOptions{LabelSelector: labelBMCluster + "=" + cluster})
	if err == nil && len(l.Items) == 0 {
		l, err = k.cs.CoreV1().Nodes().List(k.ctx, metav1.ListOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list nodes: %v", err)
	}
	cp := func(n *corev1.Node) bool {
		_, ok := n.Labels["node-role.kubernetes.io/control-plane"]
		return ok
	}
	sort.SliceStable(l.Items, func(i, j int) bool {
		if cp(&l.Items[i]) != cp(&l.Items[j]) {
			return cp(&l.Items[i])
		}
		return l.Items[i].Name < l.Items[j].Name
	})
	return l.Items, nil
}

// runSystemctl answers for the docker unit only, per $CAIRN_FAKE_DOCKER
// (default active): is-active prints active/inactive (exit 0/3), status
// prints the unit's state (exit 0/3).
func runSystemctl(inv *invocation) int {
	f, err := parseFlags(inv.args, []flag{boolFlag("quiet", "q"), boolFlag("no-pager"), boolFlag("user"), strFlag("lines", "n")}, parseOpts{})
	if err != nil || len(f.args) < 2 {
		fmt.Fprintln(os.Stderr, "systemctl (fake): usage: systemctl is-active|status|is-enabled UNIT")
		return 1
	}
	verb, unit := f.args[0], strings.TrimSuffix(f.args[1], ".service")
	active := os.Getenv(envFakeDocker) != "inactive"
	known := unit == "docker" || unit == "containerd"
	quiet := f.boolean("quiet", false)
	say := func(s string) {
		if !quiet {
			fmt.Println(s)
		}
	}
	switch verb {
	case "is-active":
		if known && active {
			say("active")
			return 0
		}
		say("inactive")
		return 3
	case "is-enabled":
		if known {
			say("enabled")
			return 0
		}
		fmt.Fprintf(os.Stderr, "Failed to get unit file state for %s.service: No such file or directory\n", unit)
		return 1
	case "status":
		if !known {
			fmt.Fprintf(os.Stderr, "Unit %s.service could not be found.\n", unit)
			return 4
		}
		state, code := "active (running) since Mon 2022-08-01 09:00:00 UTC; 3 days ago", 0
		if !active {
			state, code = "inactive (dead) since Mon 2022-08-01 09:00:00 UTC; 5min ago", 3
		}
		say(fmt.Sprintf("● %s.service - Docker Application Container Engine\n     Loaded: loaded (/lib/systemd/system/%s.service; enabled; vendor preset: enabled)\n     Active: %s\n       Docs: https://docs.docker.com", unit, unit, state))
		return code
	}
	fmt.Fprintf(os.Stderr, "systemctl (fake): unsupported verb %q\n", verb)
	return 1
}
