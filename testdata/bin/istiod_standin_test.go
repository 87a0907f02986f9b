package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// review sends one AdmissionReview through admissionHandler, as the API
// server would, and returns the response.
func review(t *testing.T, admit func(*admissionRequest) *admissionResponse, req *admissionRequest) *admissionResponse {
	t.Helper()
	body, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	w := httptest.NewRecorder()
	admissionHandler(admit)(w, httptest.NewRequest(http.MethodPost, "/inject", bytes.NewReader(body)))
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("response %q: %v", w.Body.String(), err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Response.UID != req.UID {
		t.Errorf("response review %+v, want the request's apiVersion and UID", out)
	}
	return out.Response
}

func podRequest(t *testing.T, ns string, pod *corev1.Pod) *admissionRequest {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return &admissionRequest{UID: "u-1", Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}
}

func TestStandinInject(t *testing.T) {
	s := &istiodStandin{log: log.New(io.Discard, "", 0)}
	istiod := &servedIstiod{ns: "istio-system", name: "istiod-b-1", revision: "b", image: "registry.istio.io/release/pilot:1.31-dev"}
	inject := func(r *admissionRequest) *admissionResponse { return s.inject(istiod, r) }
	app := func(mod func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-5d8f-", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}}
		if mod != nil {
			mod(p)
		}
		return p
	}

	resp := review(t, inject, podRequest(t, "shop", app(nil)))
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("plain pod: %+v", resp)
	}
	var ops []struct {
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	var containers []corev1.Container
	var labels, annotations map[string]string
	for _, op := range ops {
		switch op.Path {
		case "/spec/containers":
			_ = json.Unmarshal(op.Value, &containers)
		case "/metadata/labels":
			_ = json.Unmarshal(op.Value, &labels)
		case "/metadata/annotations":
			_ = json.Unmarshal(op.Value, &annotations)
		}
	}
	if len(containers) != 2 || containers[1].Name != "istio-proxy" || containers[1].Image != "registry.istio.io/release/proxyv2:1.31-dev" {
		t.Errorf("plain pod: containers %+v, want app and istio-proxy registry.istio.io/release/proxyv2:1.31-dev", containers)
	}
	// 1.18+ templates record the revision as an annotation, not a label.
	if annotations["istio.io/rev"] != "b" || labels["istio.io/rev"] != "" || labels["app"] != "web" {
		t.Errorf("plain pod: labels %v, annotations %v, want annotation istio.io/rev=b (the revision), no such label, and its own labels", labels, annotations)
	}

	for _, tc := range []struct {
		what string
		ns   string
		pod  *corev1.Pod
	}{
		{"hostNetwork", "shop", app(func(p *corev1.Pod) { p.Spec.HostNetwork = true })},
		{"kube-system", "kube-system", app(nil)},
		{"label inject=false", "shop", app(func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "false" })},
		{"annotation inject=false", "shop", app(func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/inject": "false"} })},
		{"already injected", "shop", app(func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/status": "{}"} })},
	} {
		if resp := review(t, inject, podRequest(t, tc.ns, tc.pod)); !resp.Allowed || resp.Patch != nil {
			t.Errorf("%s: %+v, want allowed without a patch", tc.what, resp)
		}
	}
	// The label wins over the annotation, as in istio's injectRequired.
	p := app(func(p *corev1.Pod) {
		p.Labels["sidecar.istio.io/inject"] = "true"
		p.Annotations = map[string]string{"sidecar.istio.io/inject": "false"}
	})
	if resp := review(t, inject, podRequest(t, "shop", p)); resp.Patch == nil {
		t.Errorf("label inject=true over annotation false: not injected")
	}
	bad := &admissionRequest{UID: "u-2", Namespace: "shop", Object: runtime.RawExtension{Raw: []byte(`{"spec":7}`)}}
	if resp := review(t, inject, bad); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "could not unmarshal pod") {
		t.Errorf("undecodable pod: %+v", resp)
	}
}

func TestStandinValidate(t *testing.T) {
	s := &istiodStandin{}
	validate := func(r *admissionRequest) *admissionResponse { return s.validate(nil, r) }
	obj := func(ann map[string]string) runtime.RawExtension {
		raw, _ := json.Marshal(map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
			"metadata": map[string]any{"name": "g", "annotations": ann}, "spec": map[string]any{}})
		return runtime.RawExtension{Raw: raw}
	}
	probe := &admissionRequest{UID: "u", Operation: admissionv1.Create, Object: obj(map[string]string{alwaysReject: "true"})}
	resp := review(t, validate, probe)
	if resp.Allowed || resp.Result == nil || resp.Result.Message != `configuration is invalid: "internal.istio.io/webhook-always-reject" annotation found, rejecting` {
		t.Errorf("always-reject probe: %+v", resp)
	}
	if resp := review(t, validate, &admissionRequest{UID: "u", Operation: admissionv1.Update, Object: obj(nil)}); !resp.Allowed {
		t.Errorf("ordinary Gateway: %+v", resp)
	}
	if resp := review(t, validate, &admissionRequest{UID: "u", Operation: admissionv1.Delete}); !resp.Allowed {
		t.Errorf("delete: %+v", resp)
	}
}

// The API server calls istiod-REV.NS.svc and checks the certificate against
// the caBundle the stand-in patches in.
func TestStandinCertificate(t *testing.T) {
	ca, err := newStandinCA()
	if err != nil {
		t.Fatal(err)
	}
	names := istiodDNSNames("istio-system", "1-31-0")
	want := []string{"istiod.istio-system.svc", "istiod-remote.istio-system.svc", "istio-pilot.istio-system.svc", "istiod-1-31-0.istio-system.svc"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("DNS names %v, want %v", names, want)
	}
	if got := istiodDNSNames("istio-system", "default"); len(got) != 3 {
		t.Errorf("default revision: %v, want no istiod-default name", got)
	}
	cert, err := ca.servingCert(names)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.pem) {
		t.Fatal("caBundle PEM does not parse")
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	for name, ok := range map[string]bool{"istiod-1-31-0.istio-system.svc": true, "istiod-1-30-2.istio-system.svc": false} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name}}}
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != ok {
			t.Errorf("TLS to %s with the caBundle: %v, want success=%v", name, err, ok)
		}
	}
}
