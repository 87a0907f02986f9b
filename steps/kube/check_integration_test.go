//go:build integration

package kube

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// stuckPod creates a pod the scheduler must leave alone (a scheduling
// gate), so it stays Pending with no Ready condition and kwok never marks
// it Ready; its status can then be written as a kubelet would.
func stuckPod(it *objIT, ns, name string) *corev1.Pod {
	pod, err := it.env.Clientset.CoreV1().Pods(ns).Create(it.ctx(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "stuck"}},
		Spec: corev1.PodSpec{
			SchedulingGates: []corev1.PodSchedulingGate{{Name: "cairn.dev/hold"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "registry.k8s.io/pause:3.10"},
				{Name: "istio-proxy", Image: kubetest.ProxyImage("1.13.4-asm.2")},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		it.t.Fatal(err)
	}
	return pod
}

func TestCheckPodsIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	it.env.CreateWorkload(t, ns, kubetest.Workload{Name: "web", Replicas: 2, ProxyVersion: "1.14.0-asm.1"})
	it.env.WaitDeploymentAvailable(t, ns, "web", time.Minute)
	ex := it.exec("kube.check")

	pass := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", Namespace: ns, Selector: "app=web"}, Expect: CheckExpect{
		Count: objPtr(2), PodsReady: true, NoBadPods: true,
		ContainerImageTag: &ImageTagExpect{Container: "istio-proxy", Tag: "1.14.0-asm.1"},
		Labels:            map[string]string{"app": "web"},
	}, Publish: map[string]string{"proxyImage": "spec.containers[1].image"}}
	in := it.in(pass)
	res := it.run(ex, in)
	if res.Outputs["proxyImage"] != kubetest.ProxyImage("1.14.0-asm.1") {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if !it.done(ex, in) {
		t.Error("Check of a passing kube.check: not done")
	}
	done, cres, err := ex.(*checkExec).CheckResult(it.ctx(), in)
	if err != nil || !done || cres.Outputs["proxyImage"] != res.Outputs["proxyImage"] {
		t.Errorf("CheckResult = %v %v %v, want the outputs Run published", done, cres.Outputs, err)
	}

	// The same workload checked for the next version names both pods and
	// the image each runs.
	wrongTag := &CheckParams{ObjectQuery: pass.ObjectQuery, Expect: CheckExpect{ContainerImageTag: &ImageTagExpect{Container: "istio-proxy", Tag: "1.15.0-asm.1"}}}
	_, err = ex.Run(it.ctx(), it.in(wrongTag))
	objWantPermanent(t, err, "Pods in "+ns+" with selector app=web: 2 Pods with container istio-proxy not at tag 1.15.0-asm.1: "+ns+"/web-", "(gcr.io/gke-release/asm/proxyv2:1.14.0-asm.1)")
	if it.done(ex, it.in(wrongTag)) {
		t.Error("Check of a failing kube.check: done")
	}
	// The Deployment's pod template is checked the same way.
	depTag := &CheckParams{ObjectQuery: ObjectQuery{Kind: "deploy", Namespace: ns, Name: "web"}, Expect: CheckExpect{ContainerImageTag: &ImageTagExpect{Container: "istio-proxy", Tag: "1.14.0-asm.1"}}}
	it.run(ex, it.in(depTag))

	// A pod that never became Ready, then one in CrashLoopBackOff.
	stuck := stuckPod(it, ns, "stuck")
	all := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", Namespace: ns}, Expect: CheckExpect{PodsReady: true}}
	_, err = ex.Run(it.ctx(), it.in(all))
	objWantPermanent(t, err, "1 Pod not ready: "+ns+"/stuck (Pending, no Ready condition, PodScheduled=False: SchedulingGated)")
	if strings.Contains(err.Error(), "web-") {
		t.Errorf("ready pods listed as offending: %v", err)
	}
	stuck.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: "app", Image: "registry.k8s.io/pause:3.10", Ready: false, RestartCount: 5,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s"}}},
	}
	if _, err := it.env.Clientset.CoreV1().Pods(ns).UpdateStatus(it.ctx(), stuck, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", AllNamespaces: true, Selector: "app in (web, stuck)"}, Expect: CheckExpect{NoBadPods: true}}
	_, err = ex.Run(it.ctx(), it.in(bad))
	objWantPermanent(t, err, "Pods in all namespaces with selector app in (web, stuck): 1 Pod unhealthy: "+ns+"/stuck (CrashLoopBackOff (app), Pending, no Ready condition")

	_, err = ex.Run(it.ctx(), it.in(&CheckParams{ObjectQuery: ObjectQuery{Kind: "deploy", Namespace: ns}, Expect: CheckExpect{PodsReady: true}}))
	objWantPermanent(t, err, "podsReady and noBadPods apply to kind Pod, not Deployment")
}

func TestCheckCustomResourceAndNamespaceIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, map[string]string{"istio.io/rev": "asm-1140-0"})
	it.env.CreateBareMetalCluster(t, ns, "user-1", "1.12.1")
	ex := it.exec("kube.check")

	p := &CheckParams{ObjectQuery: ObjectQuery{Kind: "clusters.baremetal.cluster.gke.io", AllNamespaces: true, Name: "user-1"},
		Expect:  CheckExpect{Fields: map[string]string{"spec.anthosBareMetalVersion": "1.12.1"}},
		Publish: map[string]string{"version": "spec.anthosBareMetalVersion", "ns": "metadata.namespace"}}
	res := it.run(ex, it.in(p))
	if res.Outputs["version"] != "1.12.1" || res.Outputs["ns"] != ns {
		t.Errorf("outputs = %v", res.Outputs)
	}
	p.Expect.Fields["spec.anthosBareMetalVersion"] = "1.12.2"
	_, err := ex.Run(it.ctx(), it.in(p))
	objWantPermanent(t, err, `1 Cluster with spec.anthosBareMetalVersion != "1.12.2": `+ns+`/user-1 ("1.12.1")`)

	// The namespace relabelled by an earlier step: label present, old
	// injection label gone, published for an undo.
	nsCheck := &CheckParams{ObjectQuery: ObjectQuery{Kind: "Namespace", Name: ns}, Expect: CheckExpect{
		Labels: map[string]string{"istio.io/rev": "asm-1140-0"}, AbsentLabels: []string{"istio-injection"},
		Fields: map[string]string{`metadata.labels.istio\.io/rev`: "asm-1140-0"},
	}, Publish: map[string]string{"rev": `metadata.labels.istio\.io/rev`}}
	res = it.run(ex, it.in(nsCheck))
	if res.Outputs["rev"] != "asm-1140-0" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	nsCheck.Expect.Labels["istio.io/rev"] = "asm-1150-0"
	_, err = ex.Run(it.ctx(), it.in(nsCheck))
	objWantPermanent(t, err, "Namespace "+ns+": 1 Namespace without label istio.io/rev=asm-1150-0: "+ns+" (istio.io/rev=asm-1140-0)")

	gone := &CheckParams{ObjectQuery: ObjectQuery{Kind: "IstioOperator", Namespace: ns, Name: "installed-state-asm-1130-0"}, Expect: CheckExpect{Exists: objPtr(false)}}
	it.env.EnsureIstioOperatorCRD(t)
	in := it.in(gone)
	it.run(ex, in)
	if !it.done(ex, in) {
		t.Error("Check of an absent object expected absent: not done")
	}
	it.env.CreateInstalledState(t, ns, "asm-1130-0", nil)
	_, err = ex.Run(it.ctx(), in)
	objWantPermanent(t, err, "IstioOperator "+ns+"/installed-state-asm-1130-0: expected none, found 1")

	_, err = ex.Run(it.ctx(), it.in(&CheckParams{ObjectQuery: ObjectQuery{Kind: "NoSuchThing", Namespace: ns}}))
	objWantPermanent(t, err, `the cluster serves no resource "NoSuchThing" (is its CRD installed?)`)
	_, err = ex.Run(it.ctx(), it.in(&CheckParams{ObjectQuery: ObjectQuery{Kind: "Pod", Namespace: ns, Selector: "app=none"}}))
	objWantPermanent(t, err, "Pods in "+ns+" with selector app=none: nothing found (expected at least one Pod)")
	var _ steps.Checker = ex.(steps.Checker)
}
