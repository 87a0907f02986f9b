//go:build integration

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kubetest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startInjector runs `fakebins injector` until the returned stop is called
// (or the test ends), the way a Go test of a playbook would.
func startInjector(t *testing.T, env *kubetest.Env) (name string, stop func()) {
	t.Helper()
	name = kubetest.UniqueName("cairn-test-sidecar-injector", 60)
	dir := t.TempDir()
	state, logPath := filepath.Join(dir, "injector.json"), filepath.Join(dir, "injector.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	x := exec.Command(filepath.Join(binDir, "fakebins"), "injector", "--state", state, "--name", name, "--exit-with-parent")
	x.Stdout, x.Stderr = logf, logf
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- x.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = x.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = x.Process.Kill()
			t.Errorf("injector did not exit on SIGTERM")
		}
		b, _ := os.ReadFile(logPath)
		t.Logf("injector log:\n%s", b)
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(45 * time.Second)
	for {
		b, err := os.ReadFile(state)
		var st injectorState
		if err == nil && json.Unmarshal(b, &st) == nil && st.PID == x.Process.Pid {
			if !strings.HasPrefix(st.URL, "https://127.0.0.1:") || st.Webhook != name {
				t.Fatalf("injector state %+v", st)
			}
			return name, stop
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("injector exited before ready: %v\n%s", err, b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("injector not ready after 45s")
		}
	}
}

// rollout creates a Deployment whose template carries a placeholder sidecar
// image in a namespace with labels and returns its pod once available.
func rollout(t *testing.T, env *kubetest.Env, labels map[string]string) corev1.Pod {
	t.Helper()
	ns := env.Namespace(t, labels)
	env.CreateWorkload(t, ns, kubetest.Workload{Name: "app", ProxyImage: "example.com/istio/proxyv2:template"})
	env.WaitDeploymentAvailable(t, ns, "app", rolloutTimeout)
	pods, err := env.Clientset.CoreV1().Pods(ns).List(bg(t), metav1.ListOptions{LabelSelector: "app=app"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of %s/app: %v", ns, err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			return p
		}
	}
	t.Fatalf("no live pod in %s", ns)
	return corev1.Pod{}
}

func proxyImage(p corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name == "istio-proxy" {
			return c.Image
		}
	}
	return ""
}

func TestInjector(t *testing.T) {
	env := kubetest.New(t)
	istioNS := env.Namespace(t, nil)
	old, cur := kubetest.UniqueName("1-14-6", 20), kubetest.UniqueName("1-15-4", 20)
	installRevision(t, env, "1.14.6", istioNS, old)
	installRevision(t, env, "1.15.4", istioNS, cur)
	fixtureRev := kubetest.UniqueName("asm-1134-2", 20)
	env.CreateIstiod(t, istioNS, fixtureRev, "1.13.4-asm.2")
	env.WaitDeploymentAvailable(t, istioNS, "istiod-"+fixtureRev, rolloutTimeout)
	tag := kubetest.UniqueName("tag", 20)
	cleanupWebhook(t, env, "istio-revision-tag-"+tag+"-"+istioNS)
	mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "set", tag, "--revision", cur, "-i", istioNS}})
	name, stop := startInjector(t, env)

	const template = "example.com/istio/proxyv2:template"
	cases := []struct {
		what   string
		labels map[string]string
		image  string
		rev    string
	}{
		{"istio.io/rev=REV", map[string]string{"istio.io/rev": old}, "docker.io/istio/proxyv2:1.14.6", old},
		{"istio.io/rev=TAG", map[string]string{"istio.io/rev": tag}, "docker.io/istio/proxyv2:1.15.4", cur},
		{"kubetest fixture revision", map[string]string{"istio.io/rev": fixtureRev}, "gcr.io/gke-release/asm/proxyv2:1.13.4-asm.2", fixtureRev},
		{"both labels", map[string]string{"istio.io/rev": cur, "istio-injection": "enabled"}, template, ""},
		{"unknown revision", map[string]string{"istio.io/rev": "no-such-rev"}, template, ""},
	}
	c := bg(t)
	adm := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if l, err := adm.List(c, metav1.ListOptions{LabelSelector: "istio.io/tag=default"}); err == nil && len(l.Items) == 0 {
		// The default tag is cluster-wide: only when no one else uses it.
		defaultTag := "istio-revision-tag-default-" + istioNS
		cleanupWebhook(t, env, defaultTag, "istiod-default-validator")
		mustRun(t, cmd{tool: "istioctl", args: []string{"tag", "set", "default", "--revision", cur, "-i", istioNS}})
		if m, err := adm.Get(c, defaultTag, metav1.GetOptions{}); err != nil || len(m.Webhooks) != 4 {
			t.Errorf("default tag: want 4 webhooks (rev.namespace, rev.object, namespace, object): %v", err)
		}
		cases = append(cases, struct {
			what   string
			labels map[string]string
			image  string
			rev    string
		}{"istio-injection=enabled", map[string]string{"istio-injection": "enabled"}, "docker.io/istio/proxyv2:1.15.4", cur})
	} else {
		t.Logf("istio-revision-tag-default exists (another test?): not testing istio-injection=enabled")
	}
	var oldPod corev1.Pod
	for _, tc := range cases {
		p := rollout(t, env, tc.labels)
		// The revision is in the status annotation: sidecar pods get no
		// istio.io/rev label from injection.
		if got := proxyImage(p); got != tc.image || injectedRevision(&p) != tc.rev || p.Labels["istio.io/rev"] != "" {
			t.Errorf("%s: istio-proxy %s, injected by %q, label %q; want %s, %q and no label", tc.what, got, injectedRevision(&p), p.Labels["istio.io/rev"], tc.image, tc.rev)
		}
		if tc.rev == old {
			oldPod = p
		}
	}

	// A pod without a sidecar gets one; an opted-out pod is left alone.
	ns := env.Namespace(t, map[string]string{"istio.io/rev": old})
	pod := func(name string, lbl map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}}
	}
	p, err := env.Clientset.CoreV1().Pods(ns).Create(c, pod("bare", nil), metav1.CreateOptions{})
	if err != nil || proxyImage(*p) != "docker.io/istio/proxyv2:1.14.6" {
		t.Errorf("bare pod: %v, containers %+v", err, p.Spec.Containers)
	}
	p, err = env.Clientset.CoreV1().Pods(ns).Create(c, pod("optout", map[string]string{"sidecar.istio.io/inject": "false"}), metav1.CreateOptions{})
	if err != nil || len(p.Spec.Containers) != 1 {
		t.Errorf("opted-out pod: %v, containers %+v", err, p.Spec.Containers)
	}

	r := mustRun(t, cmd{tool: "istioctl", args: []string{"proxy-status", "-i", istioNS}})
	found := false
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == oldPod.Name+"."+oldPod.Namespace {
			found = strings.HasPrefix(f[len(f)-2], "istiod-"+old+"-") && f[len(f)-1] == "1.14.6"
		}
	}
	if !found {
		t.Errorf("proxy-status: no row for %s.%s connected to istiod-%s with 1.14.6", oldPod.Name, oldPod.Namespace, old)
	}

	// With the revision's istiod gone, the webhook call fails: the pod is rejected.
	_ = env.Clientset.CoreV1().Services(istioNS).Delete(c, "istiod-"+old, metav1.DeleteOptions{})
	_, err = env.Clientset.CoreV1().Pods(ns).Create(c, pod("after-delete", nil), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `service "istiod-`+old+`" not found`) {
		t.Errorf("pod creation with istiod-%s deleted: %v, want a rejection naming the service", old, err)
	}

	stop()
	if _, err := adm.Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("injector webhook %s after SIGTERM: %v", name, err)
	}
}
