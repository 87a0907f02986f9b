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
	envDPCDelay      = "CAIRN_FAKE_DPC_DELAY"      // delay before DataPlaneControls get their state (default 3s)
	envDPCState      = "CAIRN_FAKE_DPC_STATE"      // the state they get (default READY); e.g. ERROR for a failed rollout
	envGKEKubeconfig = "CAIRN_FAKE_GKE_KUBECONFIG" // where get-credentials copies cluster and user from
	// envWorkloadPool is the Workload Identity pool clusters describe
	// reports; set and empty means Workload Identity is disabled.
	envWorkloadPool = "CAIRN_FAKE_GKE_WORKLOAD_POOL"
	dpcReadyState   = "READY"
)

var gcloudFlags = []flag{
	strFlag("project"), strFlag("zone", "z"), strFlag("region"), strFlag("format"), boolFlag("quiet", "q"),
	strFlag("account"), strFlag("verbosity"), boolFlag("internal-ip"), boolFlag("no-user-output-enabled"),
	// container fleet mesh update / enable
	strFlag("management"), strFlag("memberships"), strFlag("membership"), strFlag("location"), strFlag("control-plane"),
	strFlag("fleet-default-member-config"), strFlag("origin"), strFlag("config-api"),
}

// meshCommand recognises `gcloud [alpha|beta] container (hub|fleet) mesh
// VERB`: the reference documents both groups (hub is the older name of
// fleet) at every release track, and asmcli 1.14 itself runs
// `gcloud container fleet mesh enable --project=FLEET_ID`.
func meshCommand(words []string) (verb string, ok bool) {
	if len(words) > 0 && (words[0] == "alpha" || words[0] == "beta") {
		words = words[1:]
	}
	if len(words) != 4 || words[0] != "container" || (words[1] != "hub" && words[1] != "fleet") || words[2] != "mesh" {
		return "", false
	}
	return words[3], true
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
	case func() bool { v, ok := meshCommand(words); return ok && v == "enable" }():
		return meshEnable(strings.ReplaceAll(cmd, " ", "."), project)
	case func() bool { v, ok := meshCommand(words); return ok && v == "update" }():
		return meshUpdate(strings.ReplaceAll(cmd, " ", "."), f, project)
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
	fmt.Fprintf(os.Stderr, "ERROR: (gcloud) Invalid choice: '%s' (the fake gcloud supports container clusters get-credentials|describe, [alpha|beta] container fleet|hub mesh enable|update, auth login, components update|install).\n", cmd)
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

// meshUpdate checks `mesh update` as the reference describes it (exactly one
// of --fleet-default-member-config or a component option, the latter with
// --memberships or --membership; --management automatic|manual) and changes
// nothing in the cluster: automatic management provisions Google's own
// control plane, which no playbook here uses.
func meshUpdate(cmd string, f *flags, project string) int {
	if project == "" {
		return gcloudErr(cmd, "The required property [project] is not currently set.")
	}
	comp := f.has("management") || f.has("control-plane") || f.has("origin") || f.has("config-api")
	switch {
	case f.has("fleet-default-member-config") && comp:
		return gcloudErr(cmd, "argument --fleet-default-member-config: Exactly one of (--fleet-default-member-config | --management | ...) must be specified.")
	case !f.has("fleet-default-member-config") && !comp:
		return gcloudErr(cmd, "Exactly one of (--fleet-default-member-config | --config-api | --control-plane | --management | --origin) must be specified.")
	case comp && !f.has("memberships") && !f.has("membership"):
		return gcloudErr(cmd, "argument --memberships: Must be specified.")
	}
	if m := f.str("management"); m != "" && m != "automatic" && m != "manual" {
		fmt.Fprintf(os.Stderr, "ERROR: (gcloud.%s) argument --management: Invalid choice: '%s'. Valid choices are [automatic, manual].\n", cmd, m)
		return 2
	}
	fmt.Fprintln(os.Stderr, "Waiting for Feature Service Mesh to be updated...done.")
	return 0
}

// meshEnable enables the fleet's Service Mesh feature. Its managed data
// plane then creates a DataPlaneControl (no status) for each managed
// ControlPlaneRevision install_asm applied, and reports its state only
// after a while: a detached `fakebins dataplane-controller` sets the
// status.state of the DataPlaneControls marked now to READY (or
// $CAIRN_FAKE_DPC_STATE) $CAIRN_FAKE_DPC_DELAY (3s) later, so a playbook
// must wait for it.
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
	if err := createDataPlaneControls(k); err != nil {
		return gcloudErr(cmd, "%v", err)
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

// createDataPlaneControls makes the DataPlaneControl of each managed
// ControlPlaneRevision in istio-system that has none yet (name and
// spec.revision the revision's; spec.proxyVersion the managed release
// install_asm recorded). Nothing when the CRDs are missing (no
// install_asm --managed).
func createDataPlaneControls(k *kube) error {
	cprs, err := k.dyn.Resource(cprGVR).Namespace("istio-system").List(k.ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	release := ""
	if cm, err := k.cs.CoreV1().ConfigMaps("istio-system").Get(k.ctx, optionsConfigMap, metav1.GetOptions{}); err == nil {
		release = cm.Data["release"]
	}
	for _, c := range cprs.Items {
		dpc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "mesh.cloud.google.com/v1alpha1", "kind": "DataPlaneControl",
			"metadata": map[string]any{"name": c.GetName()},
			"spec":     map[string]any{"revision": c.GetName(), "proxyVersion": release, "proxyTargetBasisPoints": int64(10000)},
		}}
		if _, err := k.dyn.Resource(dpcGVR).Create(k.ctx, dpc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			if apierrors.IsNotFound(err) {
				return nil // no DataPlaneControl CRD
			}
			return err
		}
	}
	return nil
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
	// Google's managed data plane does not depend on the caller's
	// kubeconfig, which may be gone before it acts (cairn gives each tool a
	// private copy and removes it when it exits, or the next cairn removes
	// one a killed cairn left): the controller gets a copy of its own,
	// resolved now, and removes it when it exits.
	copyPath, err := kubeconfigCopy(kubeContext)
	if err != nil {
		return err
	}
	c := exec.Command(self, "dataplane-controller", "--kubeconfig", copyPath, "--kubeconfig-is-a-copy", "yes", "--context", kubeContext, "--after", delay)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	c.Stdin, c.Stdout, c.Stderr = devnull, devnull, devnull
	if err := c.Start(); err != nil {
		_ = os.Remove(copyPath)
		return err
	}
	return c.Process.Release()
}

// kubeconfigCopy writes the context of the kubeconfig in force, minified
// and with its credentials, to a new 0600 file.
func kubeconfigCopy(kubeContext string) (string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).RawConfig()
	if err != nil {
		return "", err
	}
	raw.CurrentContext = kubeContext
	if err := clientcmdapi.MinifyConfig(&raw); err != nil {
		return "", err
	}
	if err := clientcmdapi.FlattenConfig(&raw); err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "cairn-fake-dataplane-*.kubeconfig")
	if err != nil {
		return "", err
	}
	f.Close()
	if err := clientcmd.WriteToFile(raw, f.Name()); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// runDataplaneController sets status.state (READY, or $CAIRN_FAKE_DPC_STATE) on each DataPlaneControl
// marked by `mesh enable` and still without a state, --after the mark's
// time. It exits when none is left, or after --lifetime (60s).
func runDataplaneController(inv *invocation) int {
	f, err := parseFlags(inv.args, []flag{strFlag("kubeconfig"), strFlag("kubeconfig-is-a-copy"), strFlag("context"), strFlag("after"), strFlag("lifetime")}, parseOpts{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataplane-controller:", err)
		return 2
	}
	if f.str("kubeconfig-is-a-copy") == "yes" {
		defer os.Remove(f.str("kubeconfig"))
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
			state := os.Getenv(envDPCState)
			if state == "" {
				state = dpcReadyState
			}
			d.Object["status"] = map[string]any{"state": state}
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
