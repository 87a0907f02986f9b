//go:build integration

package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kubetest"
	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestRealIstioctl drives the REAL istioctl (built from the istio.io/istio
// Go module by testdata/istioctl/build.sh) through a canary upgrade on a
// cluster of its own (istioctl fixes istio-system, the default tag and
// cluster-wide CRDs), with the istiod stand-in playing the istiod pods. It
// asserts what a playbook sees: exit codes, which stream says what, object
// names, labels, webhook service names and the injected proxy images.
func TestRealIstioctl(t *testing.T) {
	istioctl := kubetest.RealIstioctl(t)
	cl, err := kubetest.StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Setenv(kubetest.EnvClusterDir, cl.Dir)
	t.Setenv(kubetest.EnvKubeconfig, cl.Kubeconfig)
	env := kubetest.New(t)
	startStandin(t, env)
	run := func(args ...string) result { t.Helper(); return realRun(t, istioctl, cl.Kubeconfig, args...) }
	must := func(args ...string) result {
		t.Helper()
		r := run(args...)
		if r.code != 0 {
			t.Fatalf("istioctl %v: %s", args, r)
		}
		return r
	}
	c := bg(t)

	// The version comes from the build's ldflags: the module's VERSION
	// file plus -dev. It is also the tag of what `install` deploys.
	r := must("version", "--remote=false")
	if !regexp.MustCompile(`^client version: 1\.\d+-dev\n$`).MatchString(r.stdout) || r.stderr != "" {
		t.Fatalf("version --remote=false: want `client version: 1.N-dev` on stdout alone: %s", r)
	}
	var v struct {
		ClientVersion struct{ Version, Revision, Status string } `json:"clientVersion"`
	}
	if err := json.Unmarshal([]byte(must("version", "--remote=false", "-o", "json").stdout), &v); err != nil {
		t.Fatalf("version -o json: %v", err)
	}
	version := v.ClientVersion.Version
	if v.ClientVersion.Status != "Clean" || len(v.ClientVersion.Revision) != 12 || r.stdout != "client version: "+version+"\n" {
		t.Errorf("version -o json: %+v", v.ClientVersion)
	}
	r = must("version")
	wantContains(t, "version without Istio", r.stderr, `Istio is not present in the cluster: no running Istio pods in namespace "istio-system"`)

	// precheck succeeds with its message on stderr and nothing on stdout.
	r = must("x", "precheck")
	if r.stdout != "" {
		t.Errorf("x precheck: stdout should be empty: %s", r)
	}
	wantContains(t, "x precheck", r.stderr, "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!")

	// Revision A: older images (--set tag), so that A's and B's proxies differ.
	const revA, tagA, revB = "1-30-2", "1.30.2", "canary"
	const hub = "registry.istio.io/release"
	r = must("install", "--set", "revision="+revA, "--set", "tag="+tagA, "-y")
	wantContains(t, "install A", r.stderr, "✔ Istio core installed", "✔ Istiod installed", "✔ Ingress gateways installed", "✔ Installation complete")
	if strings.TrimSpace(r.stdout) != "" {
		t.Errorf("install A: stdout should be empty: %s", r)
	}
	checkRevision(t, env, revA, hub+"/pilot:"+tagA)
	// The first revision installed also gets the default tag.
	checkTag(t, env, "default", revA)
	checkGateway(t, env, revA, hub+"/proxyv2:"+tagA)
	waitCABundle(t, env, "istio-sidecar-injector-"+revA, "istio-revision-tag-default")

	nsA := env.Namespace(t, map[string]string{"istio.io/rev": revA})
	nsDefault := env.Namespace(t, map[string]string{"istio.io/rev": "default"})
	for _, ns := range []string{nsA, nsDefault} {
		createApp(t, env, ns)
		checkAppProxy(t, env, ns, hub+"/proxyv2:"+tagA, revA)
	}

	// Revision B: the build's own version; then the default tag moves to it.
	r = must("install", "--set", "revision="+revB, "-y")
	wantContains(t, "install B", r.stderr, "✔ Istiod installed", "✔ Installation complete")
	checkRevision(t, env, revB, hub+"/pilot:"+version)
	checkGateway(t, env, revB, hub+"/proxyv2:"+version) // B's install took the gateway over
	waitCABundle(t, env, "istio-sidecar-injector-"+revB)
	r = run("tag", "set", "default", "--revision", revB)
	if r.code != 1 || !strings.Contains(r.stderr, `Error: revision tag "default" already exists, and --overwrite is false`) {
		t.Errorf("tag set default without --overwrite: want exit 1 and the refusal on stderr: %s", r)
	}
	r = must("tag", "set", "default", "--revision", revB, "--overwrite")
	wantContains(t, "tag set", r.stdout, `Revision tag "default" created, referencing control plane revision "`+revB+`"`)
	checkTag(t, env, "default", revB)
	r = must("tag", "list")
	if !hasRow(r.stdout, "default", revB, nsDefault) || !hasRow(r.stdout, revA) || !strings.HasPrefix(r.stdout, "TAG") {
		t.Errorf("tag list: want header, `default %s %s` and `%s` alone: %s", revB, nsDefault, revA, r)
	}
	env.RolloutRestart(t, nsDefault, "app")
	env.WaitDeploymentAvailable(t, nsDefault, "app", rolloutTimeout)
	checkAppProxy(t, env, nsDefault, hub+"/proxyv2:"+version, revB)
	checkAppProxy(t, env, nsA, hub+"/proxyv2:"+tagA, revA) // not restarted

	// A tag left on A: uninstall does not remove it.
	must("tag", "set", "prod", "--revision", revA)
	r = must("uninstall", "--revision", revA, "-y")
	wantContains(t, "uninstall A", r.stdout, "Removed apps/v1, Kind=Deployment/istiod-"+revA+".istio-system.",
		"Removed admissionregistration.k8s.io/v1, Kind=MutatingWebhookConfiguration/istio-sidecar-injector-"+revA+"..")
	wantContains(t, "uninstall A", r.stderr, "✔ Uninstall complete")
	adm := env.Clientset.AdmissionregistrationV1()
	if _, err := adm.MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector-"+revA, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after uninstall: istio-sidecar-injector-%s: %v", revA, err)
	}
	if _, err := env.Clientset.AppsV1().Deployments("istio-system").Get(c, "istiod-"+revA, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after uninstall: istiod-%s: %v", revA, err)
	}
	checkTag(t, env, "prod", revA)
	checkTag(t, env, "default", revB)
	checkGateway(t, env, revB, hub+"/proxyv2:"+version)

	// Pods of the removed revision: no webhook selects istio.io/rev=A any
	// more, so they start without a sidecar; through the leftover tag, the
	// webhook calls a Service that is gone and failurePolicy Fail rejects.
	if p := createPod(t, env, nsA); proxyImage(*p) != "" {
		t.Errorf("pod in a namespace of the uninstalled revision: istio-proxy %s, want none", proxyImage(*p))
	}
	nsProd := env.Namespace(t, map[string]string{"istio.io/rev": "prod"})
	wantRejected(t, env, nsProd, `failed calling webhook "rev.namespace.sidecar-injector.istio.io"`, `service "istiod-`+revA+`" not found`)

	// B's istiod gone (scaled to 0): its Service has no endpoints, the call
	// fails and the pod is rejected; back at 1, injection works again.
	scaleIstiod(t, env, revB, 0)
	wantRejected(t, env, nsDefault, `failed calling webhook "rev.namespace.sidecar-injector.istio.io"`, `no endpoints available for service "istio-system/istiod-`+revB+`"`)
	scaleIstiod(t, env, revB, 1)
	err = wait.PollUntilContextTimeout(c, 200*time.Millisecond, rolloutTimeout, true, func(context.Context) (bool, error) {
		p, err := env.Clientset.CoreV1().Pods(nsDefault).Create(c, bare("after-scale-up-"+kubetest.UniqueName("p", 12)), metav1.CreateOptions{})
		return err == nil && proxyImage(*p) == hub+"/proxyv2:"+version, nil
	})
	if err != nil {
		t.Errorf("istiod-%s back at 1 replica: pods in %s still not injected with %s/proxyv2:%s: %v", revB, nsDefault, hub, version, err)
	}
}

// checkRevision checks the objects a playbook looks at for a revision.
func checkRevision(t *testing.T, env *kubetest.Env, rev, pilotImage string) {
	t.Helper()
	c := bg(t)
	d, err := env.Clientset.AppsV1().Deployments("istio-system").Get(c, "istiod-"+rev, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("istiod-%s: %v", rev, err)
	}
	if d.Labels["istio.io/rev"] != rev || d.Spec.Template.Labels["app"] != "istiod" || discoveryImage(&corev1.Pod{Spec: d.Spec.Template.Spec}) != pilotImage {
		t.Errorf("Deployment istiod-%s: labels %v, pod labels %v, discovery image %s; want istio.io/rev=%s, app=istiod, %s",
			rev, d.Labels, d.Spec.Template.Labels, discoveryImage(&corev1.Pod{Spec: d.Spec.Template.Spec}), rev, pilotImage)
	}
	svc, err := env.Clientset.CoreV1().Services("istio-system").Get(c, "istiod-"+rev, metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("Service istiod-%s: %v (want a ClusterIP Service)", rev, err)
	}
	m, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector-"+rev, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("istio-sidecar-injector-%s: %v", rev, err)
	}
	checkWebhooks(t, m, rev, rev)
	if _, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(c, "istio-validator-"+rev+"-istio-system", metav1.GetOptions{}); err != nil {
		t.Errorf("istio-validator-%s-istio-system: %v", rev, err)
	}
}

// checkWebhooks: istio.io/rev=rev, every webhook calls Service istiod-rev
// at /inject and fails closed.
func checkWebhooks(t *testing.T, m *admv1.MutatingWebhookConfiguration, rev, selects string) {
	t.Helper()
	if m.Labels["istio.io/rev"] != rev || len(m.Webhooks) < 2 {
		t.Errorf("%s: labels %v, %d webhooks", m.Name, m.Labels, len(m.Webhooks))
	}
	for _, wh := range m.Webhooks {
		s := wh.ClientConfig.Service
		if s == nil || s.Name != "istiod-"+rev || s.Namespace != "istio-system" || s.Path == nil || *s.Path != "/inject" ||
			wh.FailurePolicy == nil || *wh.FailurePolicy != admv1.Fail {
			t.Errorf("%s: webhook %s: clientConfig %+v, failurePolicy %v; want Service istio-system/istiod-%s /inject, Fail",
				m.Name, wh.Name, wh.ClientConfig, wh.FailurePolicy, rev)
		}
	}
	if wh := m.Webhooks[0]; wh.Name != "rev.namespace.sidecar-injector.istio.io" ||
		len(wh.NamespaceSelector.MatchExpressions) == 0 || wh.NamespaceSelector.MatchExpressions[0].Values[0] != selects {
		t.Errorf("%s: webhooks[0] %s selects %+v, want istio.io/rev In [%s]", m.Name, wh.Name, wh.NamespaceSelector, selects)
	}
}

func checkTag(t *testing.T, env *kubetest.Env, tag, rev string) {
	t.Helper()
	m, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(bg(t), "istio-revision-tag-"+tag, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("tag %s: %v", tag, err)
	}
	if m.Labels["istio.io/tag"] != tag {
		t.Errorf("istio-revision-tag-%s: labels %v", tag, m.Labels)
	}
	checkWebhooks(t, m, rev, tag)
}

func checkGateway(t *testing.T, env *kubetest.Env, rev, image string) {
	t.Helper()
	d := env.WaitDeploymentAvailable(t, "istio-system", "istio-ingressgateway", rolloutTimeout)
	if d.Labels["istio.io/rev"] != rev || len(d.Spec.Template.Spec.Containers) != 1 || d.Spec.Template.Spec.Containers[0].Image != image {
		t.Errorf("istio-ingressgateway: labels %v, containers %+v; want istio.io/rev=%s, one container %s", d.Labels, d.Spec.Template.Spec.Containers, rev, image)
	}
}

// waitCABundle waits for the stand-in to patch the webhooks' caBundle, as
// istiod does once it runs.
func waitCABundle(t *testing.T, env *kubetest.Env, names ...string) {
	t.Helper()
	c := bg(t)
	for _, n := range names {
		err := wait.PollUntilContextTimeout(c, 100*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
			m, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, n, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, wh := range m.Webhooks {
				if len(wh.ClientConfig.CABundle) == 0 {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("%s: caBundle never patched: %v", n, err)
		}
	}
}

// createApp creates Deployment "app" with one container, as an application
// that relies on injection is written, and waits for it.
func createApp(t *testing.T, env *kubetest.Env, ns string) {
	t.Helper()
	one, zero := int32(1), int64(0)
	lbl := map[string]string{"app": "app"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Labels: lbl},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{Containers: bare("").Spec.Containers, TerminationGracePeriodSeconds: &zero}}},
	}
	if _, err := env.Clientset.AppsV1().Deployments(ns).Create(bg(t), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.WaitDeploymentAvailable(t, ns, "app", rolloutTimeout)
}

// checkAppProxy checks the live pods of Deployment app.
func checkAppProxy(t *testing.T, env *kubetest.Env, ns, image, rev string) {
	t.Helper()
	pods, err := env.Clientset.CoreV1().Pods(ns).List(bg(t), metav1.ListOptions{LabelSelector: "app=app"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		n++
		// The sidecar template records the revision in an annotation
		// (injection-template.yaml), never as a label.
		if proxyImage(p) != image || p.Annotations["istio.io/rev"] != rev || p.Labels["istio.io/rev"] != "" {
			t.Errorf("%s/%s: istio-proxy %q, annotation istio.io/rev=%q, label %q; want %s, annotation %s, no label", ns, p.Name, proxyImage(p), p.Annotations["istio.io/rev"], p.Labels["istio.io/rev"], image, rev)
		}
	}
	if n == 0 {
		t.Errorf("%s: no live pod of app", ns)
	}
}

func bare(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}}
}

func createPod(t *testing.T, env *kubetest.Env, ns string) *corev1.Pod {
	t.Helper()
	p, err := env.Clientset.CoreV1().Pods(ns).Create(bg(t), bare(kubetest.UniqueName("pod", 20)), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a pod in %s: %v", ns, err)
	}
	return p
}

// wantRejected waits until a pod created in ns is rejected with an error
// naming all of subs: the webhook's Service and its endpoints follow a
// scale or an uninstall a moment later, and a loaded machine stretches it.
// Pods admitted meanwhile are deleted.
func wantRejected(t *testing.T, env *kubetest.Env, ns string, subs ...string) {
	t.Helper()
	c := bg(t)
	pods := env.Clientset.CoreV1().Pods(ns)
	var last string
	err := wait.PollUntilContextTimeout(c, 200*time.Millisecond, rolloutTimeout, true, func(c context.Context) (bool, error) {
		p, err := pods.Create(c, bare(kubetest.UniqueName("pod", 20)), metav1.CreateOptions{})
		if err == nil {
			last = "pod " + p.Name + " admitted"
			_ = pods.Delete(c, p.Name, metav1.DeleteOptions{})
			return false, nil
		}
		last = err.Error()
		for _, s := range subs {
			if !strings.Contains(last, s) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("pods in %s: want a rejection naming %q; last: %s", ns, subs, last)
	}
}

func scaleIstiod(t *testing.T, env *kubetest.Env, rev string, replicas int32) {
	t.Helper()
	c := bg(t)
	api := env.Clientset.AppsV1().Deployments("istio-system")
	s, err := api.GetScale(c, "istiod-"+rev, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Replicas = replicas
	if _, err := api.UpdateScale(c, "istiod-"+rev, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = env.WaitDeployment("istio-system", "istiod-"+rev, rolloutTimeout, func(d *appsv1.Deployment) bool {
		return kubetest.RolloutComplete(d) && d.Status.ReadyReplicas == replicas
	})
	if err != nil {
		t.Fatal(err)
	}
	// The Deployment counts terminating pods out at once; wait for the pods too.
	err = wait.PollUntilContextTimeout(c, 100*time.Millisecond, rolloutTimeout, true, func(c context.Context) (bool, error) {
		l, err := env.Clientset.CoreV1().Pods("istio-system").List(c, metav1.ListOptions{LabelSelector: "app=istiod,istio.io/rev=" + rev})
		return err == nil && len(l.Items) == int(replicas), nil
	})
	if err != nil {
		t.Fatalf("istiod-%s pods never reached %d: %v", rev, replicas, err)
	}
}

// hasRow reports whether a line of a table has exactly these fields.
func hasRow(table string, fields ...string) bool {
	for _, l := range strings.Split(table, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
