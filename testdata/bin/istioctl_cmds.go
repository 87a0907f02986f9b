package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// proxy is a pod running an istio-proxy container.
type proxy struct {
	name, ns, version, revision string
}

func podRunning(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning
}

// proxies lists running pods with an istio-proxy container, in every namespace.
func (k *kube) proxies() ([]proxy, error) {
	pods, err := k.cs.CoreV1().Pods("").List(k.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []proxy
	for i := range pods.Items {
		p := &pods.Items[i]
		if !podRunning(p) {
			continue
		}
		for _, c := range p.Spec.Containers {
			if c.Name == "istio-proxy" {
				out = append(out, proxy{name: p.Name, ns: p.Namespace, version: imageTag(c.Image), revision: injectedRevision(p)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name+"."+out[i].ns < out[j].name+"."+out[j].ns })
	return out, nil
}

// istiodPod is a running istiod pod.
type istiodPod struct{ name, revision, version string }

func (k *kube) istiodPods(ns string) ([]istiodPod, error) {
	pods, err := k.cs.CoreV1().Pods(ns).List(k.ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return nil, err
	}
	var out []istiodPod
	for i := range pods.Items {
		p := &pods.Items[i]
		if !podRunning(p) {
			continue
		}
		ip := istiodPod{name: p.Name, revision: p.Labels[labelRev]}
		for _, c := range p.Spec.Containers {
			if c.Name == "discovery" {
				ip.version = imageTag(c.Image)
			}
		}
		out = append(out, ip)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (t *istioctl) versionCmd(args []string) error {
	f, err := t.parse(args, boolFlag("remote"), strFlag("output", "o"), boolFlag("short", "s"), strFlag("revision", "r"))
	if err != nil {
		return err
	}
	out := f.str("output")
	if out != "" && out != "json" && out != "yaml" {
		return fmt.Errorf("--output must be 'yaml' or 'json'")
	}
	client := map[string]any{"version": t.version, "revision": "fake", "golang_version": "go1.19.3", "status": "Clean", "tag": t.version}
	if !f.boolean("remote", true) {
		if out != "" {
			return printStructured(t, out, map[string]any{"clientVersion": client})
		}
		fmt.Fprintln(t.out, t.version)
		return nil
	}
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	ns := istioNS(f)
	pods, err := k.istiodPods(ns)
	if err != nil {
		return fmt.Errorf("unable to retrieve Pods: %v", err)
	}
	if rev := f.str("revision"); rev != "" {
		var keep []istiodPod
		for _, p := range pods {
			if p.revision == rev {
				keep = append(keep, p)
			}
		}
		pods = keep
	}
	if len(pods) == 0 {
		fmt.Fprintf(t.errOut, "no running Istio pods in %q\n", ns)
		fmt.Fprintln(t.out, t.version)
		return nil
	}
	proxies, err := k.proxies()
	if err != nil {
		return err
	}
	if out != "" {
		var mesh, dp []map[string]any
		for _, p := range pods {
			mesh = append(mesh, map[string]any{"Component": "pilot", "Revision": p.revision, "Info": map[string]any{"version": p.version, "status": "Clean"}})
		}
		for _, p := range proxies {
			dp = append(dp, map[string]any{"ID": p.name + "." + p.ns, "IstioVersion": p.version})
		}
		return printStructured(t, out, map[string]any{"clientVersion": client, "meshVersion": mesh, "dataPlaneVersion": dp})
	}
	var cp []string
	for _, p := range pods {
		if !contains(cp, p.version) {
			cp = append(cp, p.version)
		}
	}
	counts, order := map[string]int{}, []string{}
	for _, p := range proxies {
		if counts[p.version] == 0 {
			order = append(order, p.version)
		}
		counts[p.version]++
	}
	var dp []string
	for _, v := range order {
		dp = append(dp, fmt.Sprintf("%s (%d proxies)", v, counts[v]))
	}
	if len(dp) == 0 {
		dp = []string{"none"}
	}
	fmt.Fprintf(t.out, "client version: %s\ncontrol plane version: %s\ndata plane version: %s\n", t.version, strings.Join(cp, ", "), strings.Join(dp, ", "))
	return nil
}

func printStructured(t *istioctl, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yamlFromJSON(b); err != nil {
			return err
		}
	}
	fmt.Fprintln(t.out, strings.TrimRight(string(b), "\n"))
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (t *istioctl) proxyStatus(args []string) error {
	f, err := t.parse(args, strFlag("revision", "r"), strFlag("namespace", "n"))
	if err != nil {
		return err
	}
	if len(f.args) > 0 {
		return fmt.Errorf("the fake istioctl does not compare the config of a single proxy; run proxy-status without arguments")
	}
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	istiods, err := k.istiodPods(istioNS(f))
	if err != nil {
		return err
	}
	if len(istiods) == 0 {
		return fmt.Errorf("unable to find any Istiod instances")
	}
	byRev := map[string]istiodPod{}
	for _, p := range istiods {
		byRev[p.revision] = p
	}
	proxies, err := k.proxies()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(t.out, 0, 8, 5, ' ', 0)
	fmt.Fprintln(w, "NAME\tCLUSTER\tCDS\tLDS\tEDS\tRDS\tECDS\tISTIOD\tVERSION")
	for _, p := range proxies {
		rev := p.revision
		if rev == "" {
			rev = "default"
		}
		ip, ok := byRev[rev]
		if !ok || (f.str("revision") != "" && f.str("revision") != rev) || (f.str("namespace") != "" && f.str("namespace") != p.ns) {
			continue // not connected to any running istiod
		}
		fmt.Fprintf(w, "%s.%s\tKubernetes\tSYNCED\tSYNCED\tSYNCED\tSYNCED\tNOT SENT\t%s\t%s\n", p.name, p.ns, ip.name, p.version)
	}
	return w.Flush()
}

// bothLabels lists namespaces carrying istio-injection and istio.io/rev.
func (k *kube) bothLabels(only string) ([]string, error) {
	nss, err := k.cs.CoreV1().Namespaces().List(k.ctx, metav1.ListOptions{LabelSelector: "istio-injection," + labelRev})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nss.Items {
		if only == "" || only == n.Name {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

func ist0123(ns string) string {
	return fmt.Sprintf("Warning [IST0123] (Namespace %s) The namespace has both new and legacy injection labels. Run 'kubectl label namespace %s istio.io/rev-' or 'kubectl label namespace %s istio-injection-'", ns, ns, ns)
}

// precheck follows istioctl/cmd/precheck.go (1.14, 1.15) and
// istioctl/pkg/precheck (later): the success line goes to STDERR, issues to
// stdout with "Error: Issues found ..." on stderr and exit 1. It checks the
// Kubernetes version (and, not modelled, permissions, alpha annotations and
// localhost listeners); namespaces with both injection labels are not among
// its checks (that is `istioctl analyze`'s IST0123).
func (t *istioctl) precheck(args []string) error {
	f, err := t.parse(args, strFlag("revision", "r"), strFlag("output", "o"), strFlag("output-threshold"), boolFlag("skip-controlplane"))
	if err != nil {
		return err
	}
	k, err := t.kube(f)
	if err == nil {
		err = k.reachable()
	}
	if err != nil {
		return fmt.Errorf("failed to check cluster: unable to connect to the Kubernetes API server: %v", err)
	}
	var issues []string
	if sv, err := k.cs.Discovery().ServerVersion(); err == nil && !f.boolean("skip-controlplane", false) {
		if v, ok := parseVersion(sv.GitVersion); ok && v.major == 1 && v.minor < 22 {
			issues = append(issues, fmt.Sprintf("Error [IST0136] (Kubernetes) The Kubernetes API server version %s is lower than the minimum version 1.22 supported by Istio %s.", sv.GitVersion, t.version))
		}
	}
	if len(issues) > 0 {
		fmt.Fprintln(t.out, strings.Join(issues, "\n"))
		return fmt.Errorf("Issues found when checking the cluster. Istio may not be safe to install or upgrade.\nSee https://istio.io/v%d.%d/docs/reference/config/analysis for more information about causes and resolutions.", t.v.major, t.v.minor)
	}
	fmt.Fprintln(t.errOut, "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n  To get started, check out https://istio.io/latest/docs/setup/getting-started/")
	return nil
}

func (t *istioctl) analyze(args []string) error {
	f, err := t.parse(args, boolFlag("all-namespaces", "A"), strFlag("namespace", "n"), strFlag("revision"), strFlag("output", "o"))
	if err != nil {
		return err
	}
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	only, what := f.str("namespace"), "all namespaces"
	if !f.boolean("all-namespaces", false) {
		if only == "" {
			only = "default"
			if ctx, ok := k.raw.Contexts[k.context]; ok && ctx.Namespace != "" {
				only = ctx.Namespace
			}
		}
		what = "namespace: " + only
	}
	both, err := k.bothLabels(only)
	if err != nil {
		return err
	}
	for _, ns := range both {
		fmt.Fprintln(t.out, ist0123(ns))
	}
	if len(both) == 0 {
		fmt.Fprintf(t.out, "✔ No validation issues found when analyzing %s.\n", what)
	}
	return nil
}
