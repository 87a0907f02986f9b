package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The injector stands in for istiod's sidecar injection, which cannot run
// here: a real mutating admission webhook, served over HTTPS on loopback and
// registered with the API server, that decides the revision of each pod as
// istio would (inject.go) and sets its istio-proxy image to that revision's
// proxyv2:VERSION.

const probeLabel = "cairn.dev/injector-probe"

type injector struct {
	k      *kube
	token  string
	probed chan struct{}
	once   sync.Once
	log    io.Writer
}

// injectorState is written to --state once the API server calls the webhook.
type injectorState struct {
	PID     int    `json:"pid"`
	URL     string `json:"url"`
	Webhook string `json:"webhook"`
}

func runInjector(inv *invocation) int {
	f, err := parseFlags(inv.args, []flag{strFlag("kubeconfig"), strFlag("context"), strFlag("listen"), strFlag("state"),
		strFlag("name"), boolFlag("exit-with-parent"), strFlag("ready-timeout")}, parseOpts{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "injector:", err)
		return 2
	}
	if err := injectorMain(f); err != nil {
		fmt.Fprintln(os.Stderr, "injector:", err)
		return 1
	}
	return 0
}

func injectorMain(f *flags) error {
	k, err := newKube(f.str("kubeconfig"), f.str("context"))
	if err != nil {
		return err
	}
	k.cancel()
	k.ctx = context.Background() // long-running: calls get their own deadlines
	name, listen := f.str("name"), f.str("listen")
	if name == "" {
		name = "cairn-test-sidecar-injector"
	}
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	readyTimeout := 30 * time.Second
	if s := f.str("ready-timeout"); s != "" {
		if readyTimeout, err = time.ParseDuration(s); err != nil {
			return err
		}
	}
	caPEM, cert, err := selfSignedCert()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	j := &injector{k: k, token: hex.EncodeToString(b), probed: make(chan struct{}), log: os.Stderr}
	mux := http.NewServeMux()
	mux.HandleFunc("/inject", j.serve)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	url := "https://" + ln.Addr().String() + "/inject"

	mwcAPI := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if err := k.applyMWC(j.webhookConfig(name, url, caPEM)); err != nil {
		return fmt.Errorf("registering MutatingWebhookConfiguration %s: %w", name, err)
	}
	state := f.str("state")
	// cleanup unregisters the webhook unless another injector took the name
	// over since, and removes the state file.
	cleanup := func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cur, err := mwcAPI.Get(c, name, metav1.GetOptions{})
		if err == nil && len(cur.Webhooks) > 0 && cur.Webhooks[0].ClientConfig.URL != nil && *cur.Webhooks[0].ClientConfig.URL == url {
			_ = mwcAPI.Delete(c, name, metav1.DeleteOptions{})
		}
		if state != "" {
			_ = os.Remove(state)
		}
		_ = srv.Close()
	}
	if err := j.awaitProbe(readyTimeout); err != nil {
		cleanup()
		return err
	}
	if state != "" {
		b, _ := json.Marshal(injectorState{PID: os.Getpid(), URL: url, Webhook: name})
		err := os.WriteFile(state+".tmp", b, 0o644)
		if err == nil {
			err = os.Rename(state+".tmp", state)
		}
		if err != nil {
			cleanup()
			return err
		}
	}
	fmt.Fprintf(j.log, "injector: serving %s as MutatingWebhookConfiguration %s (pid %d)\n", url, name, os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	ppid := os.Getppid()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-sig:
			done = true
		case <-tick.C:
			done = f.boolean("exit-with-parent", false) && os.Getppid() != ppid
		}
	}
	cleanup()
	return nil
}

// webhookConfig matches pods the way istio's webhooks do: namespaces with
// istio-injection=enabled or an istio.io/rev label, and pods with their own
// istio.io/rev label or sidecar.istio.io/inject=true in unlabelled
// namespaces. A fifth webhook only answers this process's readiness probe.
func (j *injector) webhookConfig(name, url string, ca []byte) *admv1.MutatingWebhookConfiguration {
	in, none, exists := metav1.LabelSelectorOpIn, metav1.LabelSelectorOpDoesNotExist, metav1.LabelSelectorOpExists
	unlabelled := selector(expr("istio-injection", none), expr(labelRev, none))
	wh := func(n string, nsSel, objSel *metav1.LabelSelector) admv1.MutatingWebhook {
		return admv1.MutatingWebhook{
			Name:         n + ".injector.fakebins.cairn.dev",
			ClientConfig: admv1.WebhookClientConfig{URL: ptr(url), CABundle: ca},
			Rules: []admv1.RuleWithOperations{{
				Operations: []admv1.OperationType{admv1.Create},
				Rule:       admv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			FailurePolicy:           ptr(admv1.Ignore),
			SideEffects:             ptr(admv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr[int32](5),
			ReinvocationPolicy:      ptr(admv1.NeverReinvocationPolicy),
			NamespaceSelector:       nsSel,
			ObjectSelector:          objSel,
		}
	}
	return &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "cairn-fakebins"}},
		Webhooks: []admv1.MutatingWebhook{
			wh("namespace", selector(expr("istio-injection", in, "enabled")), nil),
			wh("rev", selector(expr(labelRev, exists)), nil),
			wh("rev-object", unlabelled, selector(expr(labelRev, exists))),
			wh("object", unlabelled, selector(expr("sidecar.istio.io/inject", in, "true"), expr(labelRev, none))),
			wh("probe", nil, selector(expr(probeLabel, in, j.token))),
		},
	}
}

// awaitProbe dry-run creates a pod that only the probe webhook matches until
// the API server calls us: from then on the webhook is live.
func (j *injector) awaitProbe(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cairn-injector-probe-" + j.token, Labels: map[string]string{probeLabel: j.token}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}}},
	}
	var last error
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, last = j.k.cs.CoreV1().Pods("default").Create(c, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		cancel()
		select {
		case <-j.probed:
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the API server never called the webhook within %v (last dry-run create: %v)", timeout, last)
}

func (j *injector) serve(w http.ResponseWriter, r *http.Request) {
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
	req := review.Request
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		resp.Warnings = []string{"fakebins injector: cannot decode pod: " + err.Error()}
	} else if pod.Labels[probeLabel] == j.token {
		j.once.Do(func() { close(j.probed) })
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), 4*time.Second)
		d := j.decide(ctx, req.Namespace, &pod)
		cancel()
		name := pod.Name
		if name == "" {
			name = pod.GenerateName + "*"
		}
		switch {
		case d.deny != "":
			resp.Allowed = false
			resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError, Message: d.deny}
			fmt.Fprintf(j.log, "injector: %s/%s: denied: %s\n", req.Namespace, name, d.deny)
		case d.patch != nil:
			resp.Patch, resp.PatchType = d.patch, ptr(admissionv1.PatchTypeJSONPatch)
			fmt.Fprintf(j.log, "injector: %s/%s: injected revision %s, %s\n", req.Namespace, name, d.revision, d.image)
		default:
			resp.Warnings = d.warnings
			fmt.Fprintf(j.log, "injector: %s/%s: not injected: %s\n", req.Namespace, name, d.reason)
		}
	}
	out, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func selfSignedCert() ([]byte, tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "cairn-fakebins-injector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return certPEM, cert, err
}
