package cluster

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
)

// Clients are what Kubernetes step kinds talk through.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Mapper maps kinds and short names (deploy, IstioOperator) to resources,
	// from the API server's discovery, as kubectl does.
	Mapper meta.RESTMapper
}

// ClientsFunc returns the clients, building them on first use, so that
// commands that never act on a cluster (validate, plan) never load a
// kubeconfig.
type ClientsFunc func() (*Clients, error)

// ErrNotConfigured is returned for a step that needs a cluster when cairn
// runs without one.
var ErrNotConfigured = errors.New("no Kubernetes cluster configured")

// Clients builds the clients once. It does not contact the server:
// discovery for the mapper is deferred until a kind is first mapped.
func (c *Connection) Clients() (*Clients, error) {
	c.once.Do(func() {
		kube, err := kubernetes.NewForConfig(c.Config)
		if err != nil {
			c.err = c.wrap(err)
			return
		}
		dyn, err := dynamic.NewForConfig(c.Config)
		if err != nil {
			c.err = c.wrap(err)
			return
		}
		disc, err := discovery.NewDiscoveryClientForConfig(c.Config)
		if err != nil {
			c.err = c.wrap(err)
			return
		}
		cached := memory.NewMemCacheClient(disc)
		mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
		c.clients = &Clients{Kube: kube, Dynamic: dyn, Mapper: mapper}
	})
	return c.clients, c.err
}

func (c *Connection) wrap(err error) error {
	return fmt.Errorf("cluster %s (context %q): %w", c.Server, c.Context, err)
}
