package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// The istiod stand-in does at run time what the istiod pods that the REAL
// istioctl installs would do, as far as the API server and a playbook can
// see; kwok runs no container, so nothing else would. For every running pod
// labelled app=istiod with a `discovery` container it:
//
//   - plays that pod's webhook port (15017) on the cluster network that
//     testdata/kubecluster's clusternet provides (the abstract unix socket
//     NETWORK/pods/POD_IP:15017): TLS with a certificate for
//     istiod[-REV].NS.svc from its own CA, /inject and /validate;
//   - patches that CA into the caBundle of the webhooks of its revision, as
//     istiod's webhook controllers do (injector webhooks named
//     *sidecar-injector.istio.io in MutatingWebhookConfigurations labelled
//     istio.io/rev=REV; every webhook of ValidatingWebhookConfigurations
//     labelled so, switched to failurePolicy Fail once a dry-run of an
//     invalid Gateway is denied).
//
// Everything else is the real thing: istioctl's objects as it wrote them,
// the API server choosing webhooks by their selectors, resolving
// clientConfig.service to the Service's ClusterIP, checking the serving
// certificate against caBundle, and failurePolicy. Injection sets the
// istio-proxy image to HUB/proxyv2:TAG of the discovery image of the istiod
// pod that answered (injectionPatch, shared with the injector double). With
// no ready istiod behind a revision's Service, clusternet refuses the
// connection and the API server rejects the pod (failurePolicy Fail).
//
// usage: fakebins istiod-standin [--kubeconfig K] [--context C] --network @NAME
//
//	[--state FILE] [--exit-with-parent]
type istiodStandin struct {
	k       *kube
	network string
	ca      *standinCA
	log     *log.Logger

	pods, mwcs, vwcs cache.Store
	kick             chan struct{}

	mu         sync.Mutex
	servers    map[types.UID]*servedIstiod
	failClosed map[string]bool // NS/REV whose validation dry run was denied
}

// servedIstiod is one istiod pod whose webhook port the stand-in serves.
type servedIstiod struct {
	ns, name, ip, revision, image string
	srv                           *http.Server
}

const istiodWebhookPort = 15017

// standinState is written to --state once the stand-in serves.
type standinState struct {
	PID     int    `json:"pid"`
	Network string `json:"network"`
}

func runIstiodStandin(inv *invocation) int {
	f, err := parseFlags(inv.args, []flag{strFlag("kubeconfig"), strFlag("context"), strFlag("network"), strFlag("state"),
		boolFlag("exit-with-parent")}, parseOpts{})
	if err == nil && f.str("network") == "" {
		err = fmt.Errorf("--network is required: the cluster's abstract socket prefix (the file network in the up.sh state directory)")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "istiod-standin:", err)
		return 2
	}
	if err := standinMain(f); err != nil {
		fmt.Fprintln(os.Stderr, "istiod-standin:", err)
		return 1
	}
	return 0
}

func standinMain(f *flags) error {
	k, err := newKube(f.str("kubeconfig"), f.str("context"))
	if err != nil {
		return err
	}
	k.cancel()
	k.ctx = context.Background() // long-running: calls get their own deadlines
	ca, err := newStandinCA()
	if err != nil {
		return err
	}
	s := &istiodStandin{k: k, network: f.str("network"), ca: ca, log: log.New(os.Stderr, "istiod-standin: ", 0),
		kick: make(chan struct{}, 1), servers: map[types.UID]*servedIstiod{}, failClosed: map[string]bool{}}
	stop := make(chan struct{})
	defer close(stop)
	if err := s.startInformers(stop); err != nil {
		return err
	}
	defer s.stopAll()
	s.reconcile()
	if state := f.str("state"); state != "" {
		b, _ := json.Marshal(standinState{PID: os.Getpid(), Network: s.network})
		if err := os.WriteFile(state+".tmp", b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(state+".tmp", state); err != nil {
			return err
		}
		defer os.Remove(state)
	}
	s.log.Printf("watching istiod pods and istio webhooks (pid %d, network %s)", os.Getpid(), s.network)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	ppid := os.Getppid()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-sig:
			return nil
		case <-s.kick:
			s.reconcile()
		case <-tick.C:
			if f.boolean("exit-with-parent", false) && os.Getppid() != ppid {
				return nil
			}
		}
	}
}

// startInformers watches istiod pods and the webhook configurations that
// carry a revision; every change triggers one reconcile.
func (s *istiodStandin) startInformers(stop chan struct{}) error {
	onChange := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.trigger() },
		UpdateFunc: func(any, any) { s.trigger() },
		DeleteFunc: func(any) { s.trigger() },
	}
	watch := func(client rest.Interface, resource, selector string, obj runtime.Object) (cache.Store, cache.InformerSynced) {
		lw := cache.NewFilteredListWatchFromClient(client, resource, metav1.NamespaceAll, func(o *metav1.ListOptions) { o.LabelSelector = selector })
		inf := cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
		_, _ = inf.AddEventHandler(onChange)
		go inf.Run(stop)
		return inf.GetStore(), inf.HasSynced
	}
	adm := s.k.cs.AdmissionregistrationV1().RESTClient()
	var synced [3]cache.InformerSynced
	s.pods, synced[0] = watch(s.k.cs.CoreV1().RESTClient(), "pods", "app=istiod", &corev1.Pod{})
	s.mwcs, synced[1] = watch(adm, "mutatingwebhookconfigurations", labelRev, &admv1.MutatingWebhookConfiguration{})
	s.vwcs, synced[2] = watch(adm, "validatingwebhookconfigurations", labelRev, &admv1.ValidatingWebhookConfiguration{})
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(c.Done(), synced[:]...) {
		return fmt.Errorf("listing pods and webhook configurations: no answer from the API server within 30s")
	}
	return nil
}

func (s *istiodStandin) trigger() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// reconcile serves exactly the running istiod pods, then patches the
// webhooks of their revisions.
func (s *istiodStandin) reconcile() {
	live := map[types.UID]*corev1.Pod{}
	for _, o := range s.pods.List() {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp == nil && podRunning(p) && p.Status.PodIP != "" && discoveryImage(p) != "" {
			live[p.UID] = p
		}
	}
	s.mu.Lock()
	for uid, ip := range s.servers {
		if p, ok := live[uid]; !ok || p.Status.PodIP != ip.ip {
			s.log.Printf("istiod pod %s/%s (revision %s) is gone: no longer serving %s:%d", ip.ns, ip.name, ip.revision, ip.ip, istiodWebhookPort)
			_ = ip.srv.Close() // also drops the API server's open connections
			delete(s.servers, uid)
		}
	}
	revisions := map[string]string{} // revision -> namespace of a live istiod
	for uid, p := range live {
		revisions[podRevision(p)] = p.Namespace
		if _, ok := s.servers[uid]; ok {
			continue
		}
		ip, err := s.serve(p)
		if err != nil {
			s.log.Printf("istiod pod %s/%s: %v", p.Namespace, p.Name, err)
			continue
		}
		s.servers[uid] = ip
	}
	s.mu.Unlock()
	s.patchWebhooks(revisions)
}

func (s *istiodStandin) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uid, ip := range s.servers {
		_ = ip.srv.Close()
		delete(s.servers, uid)
	}
}

// serve starts playing one istiod pod's webhook port.
func (s *istiodStandin) serve(p *corev1.Pod) (*servedIstiod, error) {
	ip := &servedIstiod{ns: p.Namespace, name: p.Name, ip: p.Status.PodIP, revision: podRevision(p), image: discoveryImage(p)}
	cert, err := s.ca.servingCert(istiodDNSNames(ip.ns, ip.revision))
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("%s/pods/%s", s.network, net.JoinHostPort(ip.ip, fmt.Sprint(istiodWebhookPort)))
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w (another istiod stand-in on this cluster?)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/inject", admissionHandler(func(r *admissionRequest) *admissionResponse { return s.inject(ip, r) }))
	mux.HandleFunc("/inject/", admissionHandler(func(r *admissionRequest) *admissionResponse { return s.inject(ip, r) }))
	mux.HandleFunc("/validate", admissionHandler(func(r *admissionRequest) *admissionResponse { return s.validate(ip, r) }))
	ip.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = ip.srv.ServeTLS(ln, "", "") }()
	s.log.Printf("serving istiod pod %s/%s (revision %s, %s) at %s:%d", ip.ns, ip.name, ip.revision, ip.image, ip.ip, istiodWebhookPort)
	return ip, nil
}

// istiodDNSNames are the names istiod's own serving certificate carries
// (pilot/pkg/bootstrap getDNSNames); the API server checks the webhook call
// against SERVICE.NS.svc.
func istiodDNSNames(ns, revision string) []string {
	hosts := []string{"istiod", "istiod-remote", "istio-pilot"}
	if revision != "" && revision != "default" {
		hosts = append(hosts, "istiod-"+revision)
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h + "." + ns + ".svc"
	}
	return out
}

func podRevision(p *corev1.Pod) string {
	if r := p.Labels[labelRev]; r != "" {
		return r
	}
	return "default"
}

func discoveryImage(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name == "discovery" {
			return c.Image
		}
	}
	return ""
}

// standinCA is the stand-in's self-signed root, which istiod would keep in
// istio-ca-secret; its PEM is what goes into the webhooks' caBundle.
type standinCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newStandinCA() (*standinCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{Organization: []string{"cluster.local"}, CommonName: "cairn istiod stand-in CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &standinCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func (ca *standinCA) servingCert(dnsNames []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: dnsNames[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}, nil
}
