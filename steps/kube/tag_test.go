package kube

import (
	"strings"
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps"
)

func TestTagSetParamsValidate(t *testing.T) {
	if errs := (&TagSetParams{Tag: "default", Revision: "${params.newRev}"}).Validate(); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	errs := (&TagSetParams{Tag: "bad tag"}).Validate()
	if len(errs) != 2 || errs[0].Field != "tag" || !strings.Contains(errs[0].Msg, "not a valid label value") || errs[1].Field != "revision" {
		t.Errorf("Validate = %v", errs)
	}
	p := &TagSetParams{Tag: "canary", Revision: "default"}
	if p.service() != "istiod" || p.namespace() != "istio-system" || p.webhook() != "istio-revision-tag-canary" {
		t.Errorf("default revision: service %s ns %s webhook %s", p.service(), p.namespace(), p.webhook())
	}
	if (&TagSetParams{Revision: "asm-1140-0", IstioNamespace: "x"}).service() != "istiod-asm-1140-0" {
		t.Error("revision service name")
	}
}

func tagWebhook(rev string, urls ...string) *admv1.MutatingWebhookConfiguration {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"istio.io/rev": "default"}}
	mwc := &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-revision-tag-default", Labels: map[string]string{"istio.io/rev": rev, "istio.io/tag": "default", "app": "sidecar-injector"}},
	}
	for _, n := range []string{"rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io"} {
		path := "/inject"
		mwc.Webhooks = append(mwc.Webhooks, admv1.MutatingWebhook{Name: n, NamespaceSelector: sel,
			ClientConfig: admv1.WebhookClientConfig{Service: &admv1.ServiceReference{Namespace: "istio-system", Name: "istiod-" + rev, Path: &path}}})
	}
	for _, u := range urls {
		mwc.Webhooks = append(mwc.Webhooks, admv1.MutatingWebhook{Name: "remote", ClientConfig: admv1.WebhookClientConfig{URL: &u}})
	}
	return mwc
}

func TestTagRetarget(t *testing.T) {
	p := &TagSetParams{Tag: "default", Revision: "asm-2"}
	mwc := tagWebhook("asm-1")
	changed, err := p.retarget(mwc)
	if err != nil || !changed {
		t.Fatalf("retarget = %v, %v", changed, err)
	}
	if mwc.Labels["istio.io/rev"] != "asm-2" || mwc.Labels["istio.io/tag"] != "default" || mwc.Labels["app"] != "sidecar-injector" {
		t.Errorf("labels = %v", mwc.Labels)
	}
	for _, w := range mwc.Webhooks {
		s := w.ClientConfig.Service
		if s.Name != "istiod-asm-2" || s.Namespace != "istio-system" || *s.Path != "/inject" || w.NamespaceSelector.MatchLabels["istio.io/rev"] != "default" {
			t.Errorf("webhook %s = %+v, selector %v", w.Name, s, w.NamespaceSelector)
		}
	}
	if changed, _ := p.retarget(mwc); changed {
		t.Error("a second retarget should change nothing")
	}
	if _, err := p.retarget(tagWebhook("asm-1", "https://istiod.example:15017/inject")); err == nil || !strings.Contains(err.Error(), `webhook remote of MutatingWebhookConfiguration istio-revision-tag-default calls URL "https://istiod.example:15017/inject", not a Service`) {
		t.Errorf("URL webhook: %v", err)
	}
	if _, err := p.retarget(&admv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "x"}}); err == nil {
		t.Error("a webhook configuration without webhooks should be refused")
	}
}

func TestTagPrevious(t *testing.T) {
	in := steps.Instance{RunID: "r1", StepID: "tag", Token: "t1"}
	mwc := tagWebhook("asm-2")
	if got := tagPrevious(mwc, in, "asm-2"); got != "asm-2" {
		t.Errorf("no annotations: %q, want the live label", got)
	}
	mwc.Annotations = map[string]string{annoTagSetBy: tagInstanceKey(in), annoTagSetTo: "asm-2", annoTagSetFrom: "asm-1"}
	if got := tagPrevious(mwc, in, "asm-2"); got != "asm-1" {
		t.Errorf("same instance, same target: %q, want asm-1 recorded by the earlier attempt", got)
	}
	if got := tagPrevious(mwc, in, "asm-1"); got != "asm-2" {
		t.Errorf("same instance moving back (rollback): %q, want the live label asm-2", got)
	}
	other := in
	other.RunID = "r2"
	if got := tagPrevious(mwc, other, "asm-2"); got != "asm-2" {
		t.Errorf("another run: %q, want the live label", got)
	}
}
