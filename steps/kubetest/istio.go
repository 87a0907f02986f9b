package kubetest

import (
	"context"
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Istiod is what CreateIstiod made for one control-plane revision.
type Istiod struct {
	Namespace  string
	Revision   string // as given ("" and "default" both mean the default revision)
	Deployment string // istiod-REV, or istiod for the default revision
	Service    string // same name as Deployment
	Webhook    string // istio-sidecar-injector-REV, or istio-sidecar-injector
}

func isDefaultRev(rev string) bool { return rev == "" || rev == "default" }

// revLabel is the value of the istio.io/rev label for a revision.
func revLabel(rev string) string {
	if isDefaultRev(rev) {
		return "default"
	}
	return rev
}

// CreateIstiod creates an istiod revision the way asmcli installs it: the
// Deployment (one replica, image gcr.io/gke-release/asm/pilot:VERSION), its
// Service and the sidecar-injector MutatingWebhookConfiguration.
//
// The webhook configuration is cluster-scoped and its name is what playbooks
// look up, so it cannot carry a per-test suffix: tests must use a unique
// revision, e.g. UniqueName("asm-1-20", 30). Cleanup deletes it.
//
// The webhook fails open (failurePolicy Ignore) and the Service is headless.
// With a ClusterIP Service the apiserver would send the admission call to an
// address no kube-proxy serves here: it leaves the machine and, depending on
// the network, stalls every matching pod creation for up to timeoutSeconds.
// For "ClusterIP None" the apiserver fails the call at once, without I/O.
func (e *Env) CreateIstiod(t testing.TB, ns, rev, version string) *Istiod {
	t.Helper()
	c := ctx(t)
	name, webhook := "istiod", "istio-sidecar-injector"
	if !isDefaultRev(rev) {
		name += "-" + rev
		webhook += "-" + rev
	}
	labels := map[string]string{"app": "istiod", "istio": "pilot", "istio.io/rev": revLabel(rev)}

	dep := deployment(ns, name, labels, 1, []corev1.Container{{
		Name:  "discovery",
		Image: "gcr.io/gke-release/asm/pilot:" + version,
		Ports: []corev1.ContainerPort{{ContainerPort: 15010}, {ContainerPort: 15012}, {ContainerPort: 15017}, {ContainerPort: 15014}},
	}})
	if _, err := e.Clientset.AppsV1().Deployments(ns).Create(c, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: creating Deployment %s/%s: %v", ns, name, err)
	}

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": "istiod", "istio.io/rev": revLabel(rev)},
			Ports: []corev1.ServicePort{
				{Name: "grpc-xds", Port: 15010, TargetPort: intstr.FromInt32(15010)},
				{Name: "https-dns", Port: 15012, TargetPort: intstr.FromInt32(15012)},
				{Name: "https-webhook", Port: 443, TargetPort: intstr.FromInt32(15017)},
				{Name: "http-monitoring", Port: 15014, TargetPort: intstr.FromInt32(15014)},
			},
		},
	}
	if _, err := e.Clientset.CoreV1().Services(ns).Create(c, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: creating Service %s/%s: %v", ns, name, err)
	}

	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{revLabel(rev)}},
	}}
	if isDefaultRev(rev) {
		sel = &metav1.LabelSelector{MatchLabels: map[string]string{"istio-injection": "enabled"}}
	}
	mwc := &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhook, Labels: map[string]string{
			"app": "sidecar-injector", "istio.io/rev": revLabel(rev),
		}},
		Webhooks: []admv1.MutatingWebhook{injectionWebhook("rev.namespace.sidecar-injector.istio.io", ns, name, sel, nil)},
	}
	e.createWebhook(t, mwc)
	return &Istiod{Namespace: ns, Revision: rev, Deployment: name, Service: name, Webhook: webhook}
}

// CreateRevisionTag creates the tag webhook "istio-revision-tag-TAG" that
// `istioctl tag set TAG --revision REV` makes: namespaces labelled
// istio.io/rev=TAG are injected by istiod-REV in istiodNS. Tags, like
// revisions, must be unique per test. Cleanup deletes it.
func (e *Env) CreateRevisionTag(t testing.TB, istiodNS, tag, rev string) *admv1.MutatingWebhookConfiguration {
	t.Helper()
	svc := "istiod"
	if !isDefaultRev(rev) {
		svc += "-" + rev
	}
	tagSel := func() *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{tag}},
		}}
	}
	notOptedOut := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "sidecar.istio.io/inject", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}},
	}}
	mwc := &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-revision-tag-" + tag, Labels: map[string]string{
			"app": "sidecar-injector", "istio.io/rev": revLabel(rev), "istio.io/tag": tag,
		}},
		Webhooks: []admv1.MutatingWebhook{
			injectionWebhook("rev.namespace.sidecar-injector.istio.io", istiodNS, svc, tagSel(), nil),
			injectionWebhook("rev.object.sidecar-injector.istio.io", istiodNS, svc, tagSel(), notOptedOut),
		},
	}
	return e.createWebhook(t, mwc)
}

func injectionWebhook(name, ns, svc string, nsSel, objSel *metav1.LabelSelector) admv1.MutatingWebhook {
	return admv1.MutatingWebhook{
		Name: name,
		ClientConfig: admv1.WebhookClientConfig{Service: &admv1.ServiceReference{
			Namespace: ns, Name: svc, Path: ptrTo("/inject"), Port: ptrTo[int32](443),
		}},
		Rules: []admv1.RuleWithOperations{{
			Operations: []admv1.OperationType{admv1.Create},
			Rule:       admv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
		}},
		FailurePolicy:           ptrTo(admv1.Ignore),
		SideEffects:             ptrTo(admv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1beta1", "v1"},
		TimeoutSeconds:          ptrTo[int32](10),
		ReinvocationPolicy:      ptrTo(admv1.NeverReinvocationPolicy),
		NamespaceSelector:       nsSel,
		ObjectSelector:          objSel,
	}
}

func (e *Env) createWebhook(t testing.TB, mwc *admv1.MutatingWebhookConfiguration) *admv1.MutatingWebhookConfiguration {
	t.Helper()
	api := e.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations()
	got, err := api.Create(ctx(t), mwc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: creating MutatingWebhookConfiguration %s (names are cluster-wide: use a unique revision/tag): %v", mwc.Name, err)
	}
	t.Cleanup(func() {
		e.deleteIgnoringNotFound(t, "MutatingWebhookConfiguration "+mwc.Name, func(c context.Context) error {
			return api.Delete(c, mwc.Name, metav1.DeleteOptions{})
		})
	})
	return got
}
