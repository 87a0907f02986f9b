package kubetest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Proxy is a TCP relay between one test's clients and the shared
// kube-apiserver. Cutting it simulates losing the network to the control
// plane for that test alone, whereas StopAPIServer also breaks every other
// test running at the same time (go test runs packages in parallel).
// TLS passes through untouched: the serving certificate is valid for
// 127.0.0.1 on any port.
type Proxy struct {
	RESTConfig *rest.Config // like Env.RESTConfig, but through the proxy
	Clientset  kubernetes.Interface

	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]struct{}
}

type proxyMode int

const (
	relaying  proxyMode = iota
	resetting           // connections are closed as soon as they arrive
	blackhole           // connections are accepted and never answered
)

// Proxy starts a relay for this test; cleanup closes it.
func (e *Env) Proxy(t testing.TB) *Proxy {
	t.Helper()
	u, err := url.Parse(e.RESTConfig.Host)
	if err != nil {
		t.Fatalf("kubetest: Proxy: apiserver URL %q: %v", e.RESTConfig.Host, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: Proxy: %v", err)
	}
	cfg := rest.CopyConfig(e.RESTConfig)
	cfg.Host = "https://" + ln.Addr().String()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubetest: Proxy: %v", err)
	}
	p := &Proxy{RESTConfig: cfg, Clientset: cs, ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.set(resetting)
	})
	return p
}

// Cut drops every open connection and resets new ones until Restore, like a
// peer that is reachable but refuses (clients fail fast).
func (p *Proxy) Cut() { p.set(resetting) }

// Blackhole drops every open connection and leaves new ones hanging until
// Restore, like a network partition (clients fail by timeout).
func (p *Proxy) Blackhole() { p.set(blackhole) }

// Restore relays new connections again; ones held by Blackhole are closed.
func (p *Proxy) Restore() { p.set(relaying) }

func (p *Proxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode != resetting {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		switch mode {
		case resetting:
			_ = c.Close()
		case relaying:
			go p.relay(c)
		}
	}
}

func (p *Proxy) relay(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(client)
		return
	}
	p.mu.Lock()
	p.conns[server] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done // either side closing ends the relay
	p.drop(client)
	p.drop(server)
}

func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}
