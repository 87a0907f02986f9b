// Command clusternet is the local cluster's Service and pod network, as far
// as the API server reaches into it. No pod runs here (kwok plays the
// kubelets), so there is no network to route to: up.sh points the API
// server's egress selector for "cluster" traffic (Service-referenced
// admission webhooks, APIServices and conversion webhooks, kubelet
// connections) at this HTTP CONNECT proxy, on an abstract unix socket, the
// way managed clusters (GKE) send it through a konnectivity proxy.
//
// For "CONNECT host:port" it does what kube-proxy and the pod network would:
//
//   - a Service ClusterIP: the Service's port -> targetPort of one ready
//     endpoint of its EndpointSlices, chosen at random, then as a pod IP;
//     no ready endpoint: 503 "no endpoints available for service ...";
//   - a pod IP (also what --enable-aggregator-routing resolves to): the
//     process that plays that pod listens on the abstract unix socket
//     NETWORK/pods/IP:PORT; nobody listening: 503 "connection refused";
//   - a loopback address (the kwok nodes' InternalIP): dialled directly.
//
// Nothing else is dialled: no packet for a cluster address ever leaves the
// machine. A 503's status text ends up in the API server's error, e.g.
// `failed calling webhook ...: proxy error from ... while dialing
// 10.0.0.57:443, code 503: 503 no endpoints available for service "istio-system/istiod-a"`.
//
// usage: clusternet --kubeconfig FILE --network @NAME
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of the cluster")
	network := flag.String("network", "", "abstract unix socket prefix, e.g. @cairn-net-0123abcd; the proxy listens on NETWORK/egress")
	flag.Parse()
	if *kubeconfig == "" || *network == "" {
		fmt.Fprintln(os.Stderr, "usage: clusternet --kubeconfig FILE --network @NAME")
		os.Exit(2)
	}
	if err := run(*kubeconfig, *network); err != nil {
		log.Fatalf("clusternet: %v", err)
	}
}

func run(kubeconfig, network string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("unix", network+"/egress")
	if err != nil {
		return err
	}
	log.Printf("clusternet: HTTP CONNECT proxy on %s/egress; pods listen on %s/pods/IP:PORT", network, network)
	n := &clusterNet{cs: cs, network: network}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				n.wg.Wait()
				return nil
			}
			return err
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.serve(conn)
		}()
	}
}

type clusterNet struct {
	cs      kubernetes.Interface
	network string
	wg      sync.WaitGroup
}

// refused is a CONNECT that fails the way the real network would.
type refused struct{ reason string }

func (r refused) Error() string { return r.reason }

func (n *clusterNet) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		fmt.Fprintf(conn, "HTTP/1.1 405 only CONNECT is supported\r\n\r\n")
		return
	}
	target := req.RequestURI
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	upstream, err := n.dial(ctx, target)
	cancel()
	if err != nil {
		var r refused
		if !errors.As(err, &r) {
			r.reason = err.Error()
		}
		log.Printf("clusternet: CONNECT %s: refused: %s", target, r.reason)
		fmt.Fprintf(conn, "HTTP/1.1 503 %s\r\n\r\n", r.reason)
		return
	}
	defer upstream.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
	// Either side closing ends the tunnel: a pod that goes away drops its
	// connections, as its process would.
	<-done
}

// dial resolves a CONNECT target the way kube-proxy and the pod network
// would, and connects to whoever plays that pod.
func (n *clusterNet) dial(ctx context.Context, target string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, refused{fmt.Sprintf("bad CONNECT target %q", target)}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, refused{fmt.Sprintf("bad port in CONNECT target %q", target)}
	}
	ip := net.ParseIP(host)
	if ip == nil {
		if host == "localhost" {
			return (&net.Dialer{}).DialContext(ctx, "tcp", target)
		}
		return nil, refused{fmt.Sprintf("no such host %q (only IP addresses are routed)", host)}
	}
	if ip.IsLoopback() {
		return (&net.Dialer{}).DialContext(ctx, "tcp", target)
	}
	podIP, podPort, err := n.serviceEndpoint(ctx, ip.String(), int32(port))
	if err != nil {
		return nil, err
	}
	if podIP == "" {
		podIP, podPort = ip.String(), int32(port)
	}
	addr := fmt.Sprintf("%s/pods/%s", n.network, net.JoinHostPort(podIP, strconv.Itoa(int(podPort))))
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, refused{fmt.Sprintf("connection refused: nothing listens on %s", net.JoinHostPort(podIP, strconv.Itoa(int(podPort))))}
	}
	return c, nil
}

// serviceEndpoint maps a ClusterIP and port to one ready endpoint. It returns
// "" when ip is no Service's ClusterIP. Every call reads the API afresh: the
// calls are few, and no watch has to survive the tests' API server restarts.
func (n *clusterNet) serviceEndpoint(ctx context.Context, ip string, port int32) (string, int32, error) {
	svcs, err := n.cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", 0, err
	}
	var svc *corev1.Service
	for i := range svcs.Items {
		for _, c := range svcs.Items[i].Spec.ClusterIPs {
			if c == ip {
				svc = &svcs.Items[i]
			}
		}
	}
	if svc == nil {
		return "", 0, nil
	}
	name := svc.Namespace + "/" + svc.Name
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port && svc.Spec.Ports[i].Protocol != corev1.ProtocolUDP {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return "", 0, refused{fmt.Sprintf("connection refused: service %q has no port %d", name, port)}
	}
	slices, err := n.cs.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name,
	})
	if err != nil {
		return "", 0, err
	}
	type ep struct {
		ip   string
		port int32
	}
	var ready []ep
	for _, s := range slices.Items {
		var p int32
		for _, x := range s.Ports {
			if x.Port != nil && ptrVal(x.Name) == sp.Name {
				p = *x.Port
			}
		}
		if p == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ready = append(ready, ep{a, p})
			}
		}
	}
	if len(ready) == 0 {
		return "", 0, refused{fmt.Sprintf("no endpoints available for service %q", name)}
	}
	e := ready[rand.IntN(len(ready))]
	return e.ip, e.port, nil
}

func ptrVal(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
