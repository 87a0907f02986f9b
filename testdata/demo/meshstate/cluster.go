package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	istioSystem  = "istio-system"
	revLabel     = "istio.io/rev"
	injectLabel  = "istio-injection"
	restartedAt  = "kubectl.kubernetes.io/restartedAt"
	tagWebhook   = "istio-revision-tag-default"
	sidecarName  = "istio-proxy"
	pollInterval = 50 * time.Millisecond
)

// show prints the control planes, the default tag, and per namespace its
// mesh labels, its Deployments' ReplicaSets and its pods' sidecar images.
func show(ctx context.Context, cs *kubernetes.Clientset, namespaces []string) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	deps, err := cs.AppsV1().Deployments(istioSystem).List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "CONTROL PLANE\tREVISION\tIMAGE\tREADY")
	for _, d := range deps.Items {
		fmt.Fprintf(w, "%s/%s\t%s\t%s\t%d/%d\n", d.Namespace, d.Name, d.Labels[revLabel],
			image(d.Spec.Template.Spec.Containers, "discovery"), d.Status.ReadyReplicas, replicas(&d))
	}
	tag := "(none)"
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, tagWebhook, metav1.GetOptions{})
	switch {
	case err == nil:
		tag = mwc.Labels[revLabel]
	case !apierrors.IsNotFound(err):
		return err
	}
	fmt.Fprintf(w, "revision tag default\t%s\t\t\n\n", tag)

	fmt.Fprintln(w, "NAMESPACE\tMESH LABEL\tDEPLOYMENT/POD\tREPLICASETS/ISTIO-PROXY IMAGE")
	for _, ns := range namespaces {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\t\t\n", ns, meshLabels(n.Labels))
		rs, err := replicaSets(ctx, cs, ns)
		if err != nil {
			return err
		}
		for _, d := range sortedKeys(rs) {
			fmt.Fprintf(w, "\t\tdeployment/%s\t%d ReplicaSet(s)\n", d, rs[d])
		}
		pods, err := livePods(ctx, cs, ns)
		if err != nil {
			return err
		}
		for _, p := range pods {
			fmt.Fprintf(w, "\t\tpod/%s\t%s\n", p.Name, image(p.Spec.Containers, sidecarName))
		}
	}
	return w.Flush()
}

// waitRestart returns once a Deployment in ns has the restartedAt
// annotation of `kubectl rollout restart` (which kube.rolloutRestart sets),
// that is when cairn is restarting that namespace. It fails if pid exits
// first (the run got past the point the demo wants to kill it at).
func waitRestart(ctx context.Context, cs *kubernetes.Clientset, ns string, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, d := range deps.Items {
			if v := d.Spec.Template.Annotations[restartedAt]; v != "" {
				fmt.Printf("cairn had restarted deployment %s/%s (restartedAt %s)\n", ns, d.Name, v)
				return nil
			}
		}
		if !alive(pid) {
			return fmt.Errorf("process %d exited before any Deployment in %s was restarted", pid, ns)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no Deployment in %s restarted within %s", ns, timeout)
		}
		time.Sleep(pollInterval)
	}
}

type after struct {
	oldRev, newRev, version string
	namespaces              []string
}

// verify checks the AFTER state independently of cairn's own checks: only
// the new control plane, the tag on it, every namespace on it, every pod on
// its proxy, and every Deployment restarted exactly once (two ReplicaSets:
// the original and the restart's). It prints each finding.
func verify(ctx context.Context, cs *kubernetes.Clientset, a after) error {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	for rev, want := range map[string]bool{a.oldRev: false, a.newRev: true} {
		_, err := cs.AppsV1().Deployments(istioSystem).Get(ctx, "istiod-"+rev, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if got := err == nil; got != want {
			fail("istiod-%s present: %v, want %v", rev, got, want)
		}
	}
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, tagWebhook, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if got := mwc.Labels[revLabel]; got != a.newRev {
		fail("tag default points at %q, want %s", got, a.newRev)
	}
	pods := 0
	for _, ns := range a.namespaces {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Labels[revLabel] != a.newRev || n.Labels[injectLabel] != "" {
			fail("namespace %s labels %s, want %s=%s only", ns, meshLabels(n.Labels), revLabel, a.newRev)
		}
		rs, err := replicaSets(ctx, cs, ns)
		if err != nil {
			return err
		}
		for _, d := range sortedKeys(rs) {
			if rs[d] != 2 {
				fail("deployment %s/%s has %d ReplicaSets, want 2 (restarted exactly once)", ns, d, rs[d])
			}
		}
		list, err := livePods(ctx, cs, ns)
		if err != nil {
			return err
		}
		for _, p := range list {
			pods++
			if img := image(p.Spec.Containers, sidecarName); !strings.HasSuffix(img, ":"+a.version) {
				fail("pod %s/%s runs istio-proxy %q, want tag %s", ns, p.Name, img, a.version)
			}
			if !ready(&p) {
				fail("pod %s/%s is not Ready", ns, p.Name)
			}
		}
	}
	if pods == 0 {
		fail("no pods in %v", a.namespaces)
	}
	for _, b := range bad {
		fmt.Println("FAIL", b)
	}
	if len(bad) > 0 {
		return errFailed
	}
	fmt.Printf("ok   only istiod-%s is left, tag default -> %s, %d namespaces on %s\n", a.newRev, a.newRev, len(a.namespaces), a.newRev)
	fmt.Printf("ok   all %d pods Ready with istio-proxy %s; every Deployment has 2 ReplicaSets (restarted once)\n", pods, a.version)
	return nil
}

// replicaSets counts the ReplicaSets of each Deployment in ns.
func replicaSets(ctx context.Context, cs *kubernetes.Clientset, ns string) (map[string]int, error) {
	list, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, rs := range list.Items {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" {
				n[o.Name]++
			}
		}
	}
	return n, nil
}

// livePods lists ns's pods that are not being deleted, by name.
func livePods(ctx context.Context, cs *kubernetes.Clientset, ns string) ([]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func meshLabels(l map[string]string) string {
	var parts []string
	for _, k := range []string{injectLabel, revLabel} {
		if v, ok := l[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}

func image(cs []corev1.Container, name string) string {
	for _, c := range cs {
		if c.Name == name {
			return c.Image
		}
	}
	return "(no " + name + ")"
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
