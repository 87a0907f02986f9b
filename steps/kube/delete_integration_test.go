//go:build integration

package kube

import (
	"context"
	"strings"
	"sync"
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// istiodRevision creates what `kubectl delete
// Service,Deployment,HorizontalPodAutoscaler,PodDisruptionBudget istiod-REV`
// removes at the end of an upgrade.
func istiodRevision(it *objIT, ns string) (rev, name string) {
	t := it.t
	rev = kubetest.UniqueName("asm-old", 20)
	ist := it.env.CreateIstiod(t, ns, rev, "1.13.4-asm.2")
	c := it.ctx()
	one := int32(1)
	_, err := it.env.Clientset.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(c, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: ist.Deployment},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: &one, MaxReplicas: 5,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: ist.Deployment}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	minAvail := intstr.FromInt32(1)
	_, err = it.env.Clientset.PolicyV1().PodDisruptionBudgets(ns).Create(c, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: ist.Deployment},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod", "istio.io/rev": rev}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rev, ist.Deployment
}

var istiodKinds = []string{"Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"}

func TestDeleteIstiodRevisionIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	_, name := istiodRevision(it, ns)
	ex := it.exec("kube.delete")
	in := it.in(&DeleteParams{Kinds: istiodKinds, Name: name, Namespace: ns, Wait: true})

	if it.done(ex, in) {
		t.Fatal("Check says done before anything was deleted")
	}
	res := it.run(ex, in)
	for _, k := range istiodKinds {
		if want := "deleted " + k + " " + ns + "/" + name; !strings.Contains(res.Evidence, want) {
			t.Errorf("evidence %q lacks %q", res.Evidence, want)
		}
	}
	c := it.ctx()
	if _, err := it.env.Clientset.AppsV1().Deployments(ns).Get(c, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment after wait: %v, want NotFound", err)
	}
	if _, err := it.env.Clientset.CoreV1().Services(ns).Get(c, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Service after wait: %v, want NotFound", err)
	}
	if !it.done(ex, in) {
		t.Error("Check says not done after Run")
	}

	// Resumed after a kill: the next attempt finds them gone and succeeds.
	in.Attempt = 2
	if res := it.run(ex, in); !strings.Contains(res.Evidence, "absent (deleted by an earlier attempt)") {
		t.Errorf("second attempt evidence = %q", res.Evidence)
	}
	// A fresh first attempt without ignoreNotFound treats absence as a typo...
	_, err := ex.Run(it.ctx(), it.in(&DeleteParams{Kinds: istiodKinds, Name: name, Namespace: ns}))
	objWantPermanent(t, err, "not found: Service "+ns+"/"+name+", Deployment "+ns+"/"+name, "nothing was deleted", "ignoreNotFound")
	// ...and with ignoreNotFound it is fine.
	res = it.run(ex, it.in(&DeleteParams{Kinds: istiodKinds, Name: name, Namespace: ns, IgnoreNotFound: true, Wait: true}))
	if !strings.Contains(res.Evidence, "PodDisruptionBudget "+ns+"/"+name+" already absent") {
		t.Errorf("ignoreNotFound evidence = %q", res.Evidence)
	}
}

func TestDeleteMissingFailsBeforeDeletingAnythingIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	_, name := istiodRevision(it, ns)
	c := it.ctx()
	if err := it.env.Clientset.PolicyV1().PodDisruptionBudgets(ns).Delete(c, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := it.exec("kube.delete").Run(it.ctx(), it.in(&DeleteParams{Kinds: istiodKinds, Name: name, Namespace: ns}))
	objWantPermanent(t, err, "not found: PodDisruptionBudget "+ns+"/"+name+" (nothing was deleted")
	if _, err := it.env.Clientset.CoreV1().Services(ns).Get(c, name, metav1.GetOptions{}); err != nil {
		t.Errorf("the Service was touched: %v", err)
	}
	_, err = it.exec("kube.delete").Run(it.ctx(), it.in(&DeleteParams{Kinds: []string{"Service", "NoSuchKind"}, Name: name, Namespace: ns}))
	objWantPermanent(t, err, `kind NoSuchKind: the cluster serves no resource "NoSuchKind"`)
	_, err = it.exec("kube.delete").Run(it.ctx(), it.in(&DeleteParams{Kinds: []string{"Service"}, Name: name}))
	objWantPermanent(t, err, "Service is namespaced: set namespace")
}

// An IstioOperator (a CRD) held by a finalizer: wait keeps the step running
// until the finalizer is removed, and a cluster-scoped webhook
// configuration is deleted in the same step, ignoring the namespace.
func TestDeleteIstioOperatorAndWebhookIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	rev := kubetest.UniqueName("asm-old", 20)
	iop := it.env.CreateInstalledState(t, ns, rev, nil)
	iops := it.env.Dynamic.Resource(kubetest.IstioOperatorGVR).Namespace(ns)
	hold := []byte(`{"metadata":{"finalizers":["cairn.dev/test-hold"]}}`)
	if _, err := iops.Patch(it.ctx(), iop.GetName(), types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	release := func(c context.Context) error {
		_, err := iops.Patch(c, iop.GetName(), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		return err
	}
	t.Cleanup(func() { _ = release(context.Background()) })

	ex := it.exec("kube.delete")
	in := it.in(&DeleteParams{Kinds: []string{"IstioOperator"}, Name: iop.GetName(), Namespace: ns, Wait: true})
	var once sync.Once
	released := make(chan error, 1)
	in.Progress = func(m string) {
		t.Logf("progress: %s", m)
		// The watch reports the finalizer it waits on; only then release it,
		// so the step must have seen the removal through the watch.
		if strings.Contains(m, "finalizers: cairn.dev/test-hold") {
			once.Do(func() { go func() { released <- release(context.Background()) }() })
		}
	}
	res := it.run(ex, in)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Evidence, "deleted IstioOperator "+ns+"/"+iop.GetName()) || !strings.Contains(res.Evidence, "waited until gone") {
		t.Errorf("evidence = %q", res.Evidence)
	}
	if !it.done(ex, in) {
		t.Error("Check after Run: not done")
	}

	vwcName := "istio-validator-" + rev + "-istio-system"
	vwcs := it.env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := vwcs.Create(it.ctx(), &admv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: vwcName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vwcs.Delete(context.Background(), vwcName, metav1.DeleteOptions{}) })
	in = it.in(&DeleteParams{Kinds: []string{"validatingwebhookconfigurations"}, Name: vwcName, Namespace: "istio-system", Wait: true})
	res = it.run(ex, in)
	if !strings.Contains(res.Evidence, "deleted ValidatingWebhookConfiguration "+vwcName) {
		t.Errorf("evidence = %q", res.Evidence)
	}
	if _, err := vwcs.Get(it.ctx(), vwcName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("webhook configuration after delete: %v", err)
	}
	if !it.done(ex, in) {
		t.Error("Check after Run: not done")
	}
}
