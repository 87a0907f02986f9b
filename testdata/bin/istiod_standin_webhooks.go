package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type (
	admissionRequest  = admissionv1.AdmissionRequest
	admissionResponse = admissionv1.AdmissionResponse
)

// admissionHandler decodes an AdmissionReview, asks admit, and answers in
// the review's own apiVersion.
func admissionHandler(admit func(*admissionRequest) *admissionResponse) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		resp := admit(review.Request)
		resp.UID = review.Request.UID
		out, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}
}

// ignoredNamespaces are never injected (istio pkg/kube/inject IgnoredNamespaces).
var ignoredNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true, "local-path-storage": true}

// inject is istiod's /inject for one istiod pod: the API server only calls
// it for pods that the revision's webhook selectors matched, so what is
// left to decide is istiod's own injectRequired (host network, system
// namespaces, sidecar.istio.io/inject=false on the pod).
func (s *istiodStandin) inject(ip *servedIstiod, req *admissionRequest) *admissionResponse {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return &admissionResponse{Result: &metav1.Status{Message: "could not unmarshal pod: " + err.Error()}}
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "*"
	}
	sidecarInject := pod.Annotations["sidecar.istio.io/inject"]
	if v, ok := pod.Labels["sidecar.istio.io/inject"]; ok {
		sidecarInject = v // the label wins over the annotation, as in istio
	}
	skip := ""
	switch {
	case pod.Spec.HostNetwork:
		skip = "hostNetwork"
	case ignoredNamespaces[req.Namespace]:
		skip = "system namespace"
	case sidecarInject == "false":
		skip = "sidecar.istio.io/inject=false"
	case pod.Annotations["sidecar.istio.io/status"] != "":
		skip = "already injected"
	}
	if skip != "" {
		s.log.Printf("%s/%s: not injected by %s/%s: %s", req.Namespace, name, ip.ns, ip.name, skip)
		return &admissionResponse{Allowed: true}
	}
	version := imageTag(ip.image)
	image := imageHub(ip.image) + "/proxyv2:" + version
	patch, err := injectionPatch(&pod, ip.revision, image, version)
	if err != nil {
		return &admissionResponse{Result: &metav1.Status{Message: err.Error()}}
	}
	s.log.Printf("%s/%s: injected by %s/%s (revision %s): %s", req.Namespace, name, ip.ns, ip.name, ip.revision, image)
	return &admissionResponse{Allowed: true, Patch: patch, PatchType: ptr(admissionv1.PatchTypeJSONPatch)}
}

// alwaysReject is the annotation istiod's validation controller puts on the
// invalid Gateway it dry-runs before switching validation to fail-closed.
const alwaysReject = "internal.istio.io/webhook-always-reject"

// validate accepts every Istio resource except the controller's probe: the
// stand-in does not implement Istio's schema validation.
func (s *istiodStandin) validate(ip *servedIstiod, req *admissionRequest) *admissionResponse {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return &admissionResponse{Allowed: true}
	}
	var obj metav1.PartialObjectMetadata
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return &admissionResponse{Result: &metav1.Status{Message: "cannot decode configuration: " + err.Error()}}
	}
	if _, ok := obj.Annotations[alwaysReject]; ok {
		return &admissionResponse{Result: &metav1.Status{Message: fmt.Sprintf("configuration is invalid: %q annotation found, rejecting", alwaysReject)}}
	}
	return &admissionResponse{Allowed: true}
}

// patchWebhooks does what each live revision's istiod does to the webhook
// configurations labelled with its revision: put its CA in caBundle, and
// make validation fail-closed once it works.
func (s *istiodStandin) patchWebhooks(revisions map[string]string) {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm := s.k.cs.AdmissionregistrationV1()
	retry := false
	for _, o := range s.mwcs.List() {
		m := o.(*admv1.MutatingWebhookConfiguration)
		if _, ok := revisions[m.Labels[labelRev]]; !ok {
			continue
		}
		upd, changed := m.DeepCopy(), false
		for i := range upd.Webhooks {
			wh := &upd.Webhooks[i]
			if strings.HasSuffix(wh.Name, "sidecar-injector.istio.io") && !bytes.Equal(wh.ClientConfig.CABundle, s.ca.pem) {
				wh.ClientConfig.CABundle, changed = s.ca.pem, true
			}
		}
		if !changed {
			continue
		}
		if _, err := adm.MutatingWebhookConfigurations().Update(c, upd, metav1.UpdateOptions{}); err != nil {
			s.log.Printf("patching caBundle of MutatingWebhookConfiguration %s: %v", m.Name, err)
			retry = true
			continue
		}
		s.log.Printf("patched caBundle of MutatingWebhookConfiguration %s (revision %s)", m.Name, m.Labels[labelRev])
	}
	for _, o := range s.vwcs.List() {
		v := o.(*admv1.ValidatingWebhookConfiguration)
		rev := v.Labels[labelRev]
		ns, ok := revisions[rev]
		if !ok {
			continue
		}
		caChange, ignore := false, false
		for _, wh := range v.Webhooks {
			caChange = caChange || !bytes.Equal(wh.ClientConfig.CABundle, s.ca.pem)
			ignore = ignore || (wh.FailurePolicy != nil && *wh.FailurePolicy != admv1.Fail)
		}
		if !caChange && !ignore {
			continue
		}
		failClose := ignore && s.readyForFailClose(c, ns, rev)
		upd := v.DeepCopy()
		for i := range upd.Webhooks {
			upd.Webhooks[i].ClientConfig.CABundle = s.ca.pem
			if failClose {
				upd.Webhooks[i].FailurePolicy = ptr(admv1.Fail)
			}
		}
		if _, err := adm.ValidatingWebhookConfigurations().Update(c, upd, metav1.UpdateOptions{}); err != nil {
			s.log.Printf("patching ValidatingWebhookConfiguration %s: %v", v.Name, err)
			retry = true
			continue
		}
		s.log.Printf("patched caBundle of ValidatingWebhookConfiguration %s (revision %s, failurePolicy Fail: %v)", v.Name, rev, failClose)
		retry = retry || (ignore && !failClose)
	}
	if retry {
		time.AfterFunc(time.Second, s.trigger)
	}
}

var gatewayGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}

// readyForFailClose dry-runs the invalid Gateway istiod's validation
// controller uses and reports whether validation denied it (or cannot be
// checked), once per namespace and revision.
func (s *istiodStandin) readyForFailClose(c context.Context, ns, rev string) bool {
	key := ns + "/" + rev
	s.mu.Lock()
	done := s.failClosed[key]
	s.mu.Unlock()
	if done {
		return true
	}
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "invalid-gateway", "namespace": ns,
			"labels": map[string]any{labelRev: rev}, "annotations": map[string]any{alwaysReject: "true"}},
		"spec": map[string]any{},
	}}
	_, err := s.k.dyn.Resource(gatewayGVR).Namespace(ns).Create(c, gw, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	ready := false
	switch {
	case err == nil:
		s.log.Printf("validation of revision %s: dummy invalid config not rejected yet", rev)
	case strings.Contains(err.Error(), "denied the request"),
		strings.Contains(err.Error(), "the server could not find the requested resource"),
		strings.Contains(err.Error(), "does not support dry run"):
		ready = true
	default:
		s.log.Printf("validation of revision %s: dummy invalid config rejected for the wrong reason: %v", rev, err)
	}
	if ready {
		s.mu.Lock()
		s.failClosed[key] = true
		s.mu.Unlock()
	}
	return ready
}
