package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Environment for the gcloud double.
const (
	envDPCDelay      = "CAIRN_FAKE_DPC_DELAY"      // delay before DataPlaneControls turn READY (default 3s)
	envGKEKubeconfig = "CAIRN_FAKE_GKE_KUBECONFIG" // where get-credentials copies cluster and user from
	// envWorkloadPool is the Workload Identity pool clusters describe
	// reports; set and empty means Workload Identity is disabled.
	envWorkloadPool = "CAIRN_FAKE_GKE_WORKLOAD_POOL"
	dpcReadyState   = "READY"
)

var gcloudFlags = []flag{
	strFlag("project"), strFlag("zone", "z"), strFlag("region"), strFlag("format"), boolFlag("quiet", "q"),
	strFlag("account"), strFlag("verbosity"), boolFlag("internal-ip"), boolFlag("no-user-output-enabled"),
}

func gcloudErr(cmd, format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "ERROR: (gcloud.%s) %s\n", cmd, fmt.Sprintf(format, a...))
	return 1
}

func runGcloud(inv *invocation) int {
	f, err := parseFlags(inv.args, gcloudFlags, parseOpts{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: (gcloud) %v\n", err)
		return 2
	}
	words := f.args
	cmd := strings.Join(words, " ")
	project := f.str("project")
	if project == "" {
		project = os.Getenv("CLOUDSDK_CORE_PROJECT")
	}
	switch {
	case len(words) >= 4 && strings.Join(words[:3], " ") == "container clusters get-credentials":
		return getCredentials(f, words[3], project)
	case len(words) == 4 && strings.Join(words[:3], " ") == "container clusters describe":
		out, err := describeCluster(words[3], f.str("zone")+f.str("region"), project, f.str("format"))
		if err != nil {
			return gcloudErr("container.clusters.describe", "%v", err)
		}
		fmt.Print(out)
		return 0
	case cmd == "alpha container hub mesh enable" || cmd == "container hub mesh enable" || cmd == "container fleet mesh enable" || cmd == "beta container hub mesh enable":
		return meshEnable(strings.ReplaceAll(cmd, " ", "."), project)
	case cmd == "auth login":
		fmt.Fprintln(os.Stderr, "You are now logged in as [cairn-test@example.com].")
		return 0
	case len(words) >= 2 && words[0] == "components" && (words[1] == "update" || words[1] == "install"):
		fmt.Fprintln(os.Stderr, "All components are up to date.")
		return 0
	case cmd == "version" || cmd == "--version":
		fmt.Printf("Google Cloud SDK %s\nalpha 2022.08.19\nbeta 2022.08.19\ncore 2022.08.19\n", inv.version())
		return 0
	}
	if len(words) == 0 {
		fmt.Fprintln(os.Stderr, "ERROR: (gcloud) Command name argument expected.")
		return 2
	}
	fmt.Fprintf(os.Stderr, "ERROR: (gcloud) Invalid choice: '%s' (the fake gcloud supports container clusters get-credentials|describe, alpha container hub mesh enable, auth login, components update|install).\n", cmd)
	return 2
}

// describeCluster prints the fields of `gcloud container clusters describe`
// that a playbook reads: name, location and the Workload Identity pool
// (PROJECT.svc.id.goog, or $CAIRN_FAKE_GKE_WORKLOAD_POOL; none when that is
// set and empty, as for a cluster without Workload Identity). --format
// value(workloadIdentityConfig.workloadPool) prints the pool alone (an empty
// line without one), as the real gcloud does.
func describeCluster(cluster, loc, project, format string) (string, error) {
	if loc == "" {
		return "", fmt.Errorf("One of [--zone, --region] must be supplied: Please specify location.")
	}
	if project == "" {
		return "", fmt.Errorf("The required property [project] is not currently set.")
	}
	pool, set := os.LookupEnv(envWorkloadPool)
	if !set {
		pool = project + ".svc.id.goog"
	}
	switch format {
	case "value(workloadIdentityConfig.workloadPool)", "value(workload_identity_config.workload_pool)":
		return pool + "\n", nil
	case "", "yaml", "default":
		out := fmt.Sprintf("location: %s\nname: %s\nselfLink: https://container.googleapis.com/v1/projects/%s/locations/%s/clusters/%s\n", loc, cluster, project, loc, cluster)
		if pool != "" {
			out += "workloadIdentityConfig:\n  workloadPool: " + pool + "\n"
		}
		return out, nil
	}
	return "", fmt.Errorf("the fake gcloud supports --format value(workloadIdentityConfig.workloadPool) or yaml, not %q", format)
}

// getCredentials writes the context gke_PROJECT_LOCATION_CLUSTER into the
// first file of $KUBECONFIG (else ~/.kube/config) and makes it current. Its
// server and credentials are copied from the current context of
// $CAIRN_FAKE_GKE_KUBECONFIG, else of that same file: every "GKE cluster"
// is the local test cluster.
func getCredentials(f *flags, cluster, project string) int {
	const cmd = "container.clusters.get-credentials"
	loc := f.str("zone")
	if loc == "" {
		loc = f.str("region")
	}
	if loc == "" {
		return gcloudErr(cmd, "One of [--zone, --region] must be supplied: Please specify location.")
	}
	if project == "" {
		return gcloudErr(cmd, "The required property [project] is not currently set.")
	}
	target := clientcmd.RecommendedHomeFile
	if kc := filepath.SplitList(os.Getenv("KUBECONFIG")); len(kc) > 0 && kc[0] != "" {
		target = kc[0]
	}
	cfg, err := clientcmd.LoadFromFile(target)
	if os.IsNotExist(err) {
		cfg, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return gcloudErr(cmd, "could not load kubeconfig %s: %v", target, err)
	}
	src := cfg
	if p := os.Getenv(envGKEKubeconfig); p != "" {
		if src, err = clientcmd.LoadFromFile(p); err != nil {
			return gcloudErr(cmd, "could not load %s: %v", p, err)
		}
	}
	sctx := src.Contexts[src.CurrentContext]
	if sctx == nil || src.Clusters[sctx.Cluster] == nil || src.AuthInfos[sctx.AuthInfo] == nil {
		return gcloudErr(cmd, "ResponseError: code=404, message=Not found: projects/%s/locations/%s/clusters/%s.", project, loc, cluster)
	}
	fmt.Fprintln(os.Stderr, "Fetching cluster endpoint and auth data.")
	name := fmt.Sprintf("gke_%s_%s_%s", project, loc, cluster)
	cfg.Clusters[name] = src.Clusters[sctx.Cluster].DeepCopy()
	cfg.AuthInfos[name] = src.AuthInfos[sctx.AuthInfo].DeepCopy()
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return gcloudErr(cmd, "%v", err)
	}
	if err := clientcmd.WriteToFile(*cfg, target); err != nil {
		return gcloudErr(cmd, "could not write kubeconfig %s: %v", target, err)
	}
	fmt.Fprintf(os.Stderr, "kubeconfig entry generated for %s.\n", cluster)
	return 0
}

// annMeshEnabled marks the DataPlaneControls that `mesh enable` found, with
// the time it ran: only those become ready (DataPlaneControls created later,
// or after a test reset, are not managed by an earlier enable).
const annMeshEnabled = "cairn.dev/fake-mesh-enabled-at"

// meshEnable enables the fleet's Service Mesh feature. The managed data plane
// controller reports ready only after a while: a detached
// `fakebins dataplane-controller` sets the status.state of the
// DataPlaneControls present now (install_asm creates them) to READY
// $CAIRN_FAKE_DPC_DELAY (3s) later, so a playbook must wait for it.
func meshEnable(cmd, project string) int {
	if project == "" {
		return gcloudErr(cmd, "The required property [project] is not currently set.")
	}
	k, err := newKube("", "")
	if err == nil {
		err = k.reachable()
	}
	if err != nil {
		return gcloudErr(cmd, "cannot reach the cluster's membership: %v", err)
	}
	l, err := k.dyn.Resource(dpcGVR).List(k.ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return gcloudErr(cmd, "%v", err)
	}
	pending := 0
	if l != nil {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for _, d := range l.Items {
			if st, _, _ := unstructured.NestedString(d.Object, "status", "state"); st != "" {
				continue
			}
			pending++
			if _, ok := d.GetAnnotations()[annMeshEnabled]; ok {
				continue // enabled before; its controller may have died
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annMeshEnabled: now}}})
			if _, err := k.dyn.Resource(dpcGVR).Patch(k.ctx, d.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return gcloudErr(cmd, "%v", err)
			}
		}
	}
	if pending > 0 {
		if err := startDataplaneController(k.context); err != nil {
			return gcloudErr(cmd, "%v", err)
		}
	}
	fmt.Fprintln(os.Stderr, "Waiting for Feature Service Mesh to be created...done.")
	return 0
}

// startDataplaneController starts the controller detached (own session,
// stdio on /dev/null) so that it outlives this short-lived gcloud.
func startDataplaneController(kubeContext string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	delay := os.Getenv(envDPCDelay)
	if delay == "" {
		delay = "3s"
	}
	// The child inherits $KUBECONFIG; the context is pinned as resolved now.
	c := exec.Command(self, "dataplane-controller", "--context", kubeContext, "--after", delay)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	c.Stdin, c.Stdout, c.Stderr = devnull, devnull, devnull
	if err := c.Start(); err != nil {
		return err
	}
	return c.Process.Release()
}

// runDataplaneController sets status.state=READY on each DataPlaneControl
// marked by `mesh enable` and still without a state, --after the mark's
// time. It exits when none is left, or after --lifetime (60s).
func runDataplaneController(inv *invocation) int {
	f, err := parseFlags(inv.args, []flag{strFlag("kubeconfig"), strFlag("context"), strFlag("after"), strFlag("lifetime")}, parseOpts{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataplane-controller:", err)
		return 2
	}
	after, lifetime := 3*time.Second, 60*time.Second
	if s := f.str("after"); s != "" {
		if after, err = time.ParseDuration(s); err != nil {
			fmt.Fprintln(os.Stderr, "dataplane-controller:", err)
			return 2
		}
	}
	if s := f.str("lifetime"); s != "" {
		if lifetime, err = time.ParseDuration(s); err != nil {
			fmt.Fprintln(os.Stderr, "dataplane-controller:", err)
			return 2
		}
	}
	k, err := newKube(f.str("kubeconfig"), f.str("context"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataplane-controller:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), lifetime)
	defer cancel()
	for ctx.Err() == nil {
		l, err := k.dyn.Resource(dpcGVR).List(ctx, metav1.ListOptions{})
		pending := err != nil
		for i := 0; err == nil && i < len(l.Items); i++ {
			d := &l.Items[i]
			at, marked := d.GetAnnotations()[annMeshEnabled]
			if st, _, _ := unstructured.NestedString(d.Object, "status", "state"); st != "" || !marked {
				continue
			}
			if t, perr := time.Parse(time.RFC3339Nano, at); perr == nil && time.Since(t) < after {
				pending = true
				continue
			}
			pv, _, _ := unstructured.NestedString(d.Object, "spec", "proxyVersion")
			d.Object["status"] = map[string]any{"state": dpcReadyState, "proxyVersion": pv}
			if _, uerr := k.dyn.Resource(dpcGVR).UpdateStatus(ctx, d, metav1.UpdateOptions{}); uerr != nil {
				pending = true
			}
		}
		if !pending {
			return 0
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return 0
}
