//go:build integration

package kube

import (
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

func tagState(it *objIT, tag string) *admv1.MutatingWebhookConfiguration {
	it.t.Helper()
	mwc, err := it.env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(it.ctx(), tagWebhookPrefix+tag, metav1.GetOptions{})
	if err != nil {
		it.t.Fatal(err)
	}
	return mwc
}

func wantTagOn(it *objIT, tag, ns, rev, svc string) {
	it.t.Helper()
	mwc := tagState(it, tag)
	if mwc.Labels["istio.io/rev"] != rev || mwc.Labels["istio.io/tag"] != tag || mwc.Labels["app"] != "sidecar-injector" {
		it.t.Errorf("labels = %v, want istio.io/rev=%s istio.io/tag=%s and app kept", mwc.Labels, rev, tag)
	}
	if len(mwc.Webhooks) != 2 {
		it.t.Fatalf("%d webhooks, want the 2 the tag was created with", len(mwc.Webhooks))
	}
	for _, w := range mwc.Webhooks {
		s := w.ClientConfig.Service
		if s.Name != svc || s.Namespace != ns || *s.Path != "/inject" {
			it.t.Errorf("webhook %s calls %s/%s%s, want %s/%s/inject", w.Name, s.Namespace, s.Name, *s.Path, ns, svc)
		}
		if sel := w.NamespaceSelector; len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Values[0] != tag {
			it.t.Errorf("webhook %s namespaceSelector changed: %+v", w.Name, sel)
		}
	}
}

func TestTagSetMovesTagIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	oldRev, newRev := kubetest.UniqueName("asm-1", 20), kubetest.UniqueName("asm-2", 20)
	it.env.CreateIstiod(t, ns, oldRev, "1.14.6-asm.1")
	it.env.CreateIstiod(t, ns, newRev, "1.15.4-asm.1")
	tag := kubetest.UniqueName("t", 20)
	it.env.CreateRevisionTag(t, ns, tag, oldRev)

	ex := it.exec("istio.tagSet")
	in := it.in(&TagSetParams{Tag: tag, Revision: newRev, IstioNamespace: ns})
	if it.done(ex, in) {
		t.Fatal("Check says done before the move")
	}
	res := it.run(ex, in)
	if res.Outputs["previousRevision"] != oldRev {
		t.Errorf("previousRevision = %q, want %s", res.Outputs["previousRevision"], oldRev)
	}
	wantTagOn(it, tag, ns, newRev, "istiod-"+newRev)
	if !it.done(ex, in) {
		t.Error("Check after Run: not done")
	}
	done, cres, err := ex.(*tagSetExec).CheckResult(it.ctx(), in)
	if err != nil || !done || cres.Outputs["previousRevision"] != oldRev {
		t.Errorf("CheckResult = %v %v %v, want done with previousRevision %s", done, cres.Outputs, err, oldRev)
	}

	// A resumed attempt of the same instance changes nothing and still
	// reports the revision the tag had before the first attempt.
	in.Attempt = 2
	rv := tagState(it, tag).ResourceVersion
	if res := it.run(ex, in); res.Outputs["previousRevision"] != oldRev {
		t.Errorf("second attempt previousRevision = %q, want %s", res.Outputs["previousRevision"], oldRev)
	}
	if got := tagState(it, tag).ResourceVersion; got != rv {
		t.Errorf("second attempt wrote the webhook (resourceVersion %s -> %s)", rv, got)
	}

	// The undo, as rollback runs it (same run, step and token), moves it
	// back and reports where it came from.
	undo := in
	undo.Attempt = 1
	undo.Params = &TagSetParams{Tag: tag, Revision: res.Outputs["previousRevision"], IstioNamespace: ns}
	if res := it.run(ex, undo); res.Outputs["previousRevision"] != newRev {
		t.Errorf("undo previousRevision = %q, want %s", res.Outputs["previousRevision"], newRev)
	}
	wantTagOn(it, tag, ns, oldRev, "istiod-"+oldRev)
	if it.done(ex, in) {
		t.Error("after the undo, Check of the forward step says done")
	}
}

func TestTagSetFailuresIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	rev := kubetest.UniqueName("asm-1", 20)
	it.env.CreateIstiod(t, ns, rev, "1.14.6-asm.1")
	ex := it.exec("istio.tagSet")

	missingTag := kubetest.UniqueName("t", 20)
	_, err := ex.Run(it.ctx(), it.in(&TagSetParams{Tag: missingTag, Revision: rev, IstioNamespace: ns}))
	objWantPermanent(t, err, "MutatingWebhookConfiguration istio-revision-tag-"+missingTag+" not found", "revision tag \""+missingTag+"\" does not exist", "istioctl tag generate")

	tag := kubetest.UniqueName("t", 20)
	it.env.CreateRevisionTag(t, ns, tag, rev)
	_, err = ex.Run(it.ctx(), it.in(&TagSetParams{Tag: tag, Revision: "asm-nope", IstioNamespace: ns}))
	objWantPermanent(t, err, "Service "+ns+"/istiod-asm-nope not found: revision asm-nope has no istiod Service in "+ns)
	wantTagOn(it, tag, ns, rev, "istiod-"+rev)
	// Without istioNamespace the Service is looked up in istio-system.
	_, err = ex.Run(it.ctx(), it.in(&TagSetParams{Tag: tag, Revision: rev}))
	objWantPermanent(t, err, "Service istio-system/istiod-"+rev+" not found")
}
