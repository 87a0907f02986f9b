// Package kube holds cairn's Kubernetes step kinds and what they share:
// kubeconfig loading, cluster identity, the in-cluster lock, REST mapping and
// the retrying of transient API errors.
package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/steps"
)

// Source says which kubeconfig and context to use; empty fields follow
// kubectl's rules: $KUBECONFIG (several files, merged), then ~/.kube/config,
// and the current context.
type Source struct {
	Kubeconfig string
	Context    string
}

// Connection is a loaded kubeconfig: clients are built from it on first use.
type Connection struct {
	Source  Source
	Context string // the context actually used
	Server  string
	Config  *rest.Config

	once    sync.Once
	cluster *steps.Cluster
	err     error
}

// Load reads the kubeconfig without contacting the server.
func Load(src Source) (*Connection, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = src.Kubeconfig
	if src.Kubeconfig != "" {
		if _, err := os.Stat(src.Kubeconfig); err != nil {
			return nil, fmt.Errorf("kubeconfig %s (from --kubeconfig): %w", src.Kubeconfig, errors.Unwrap(err))
		}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: src.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig (%s): %w", describeRules(rules), err)
	}
	ctxName := src.Context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	if len(raw.Contexts) == 0 {
		return nil, fmt.Errorf("no kubeconfig found (looked at %s); pass --kubeconfig FILE or set KUBECONFIG", describeRules(rules))
	}
	kctx, ok := raw.Contexts[ctxName]
	if !ok {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		if ctxName == "" {
			return nil, fmt.Errorf("kubeconfig (%s) has no current context; pass --context, one of: %s", describeRules(rules), strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("context %q is not in the kubeconfig (%s); it has: %s", ctxName, describeRules(rules), strings.Join(names, ", "))
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q in the kubeconfig (%s): %w", ctxName, describeRules(rules), err)
	}
	server := cfg.Host
	if c, ok := raw.Clusters[kctx.Cluster]; ok {
		server = c.Server
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "cairn"
	return &Connection{Source: src, Context: ctxName, Server: server, Config: cfg}, nil
}

// describeRules says where kubeconfig was looked for, in kubectl's terms, so
// that an error tells the operator which file or variable to fix.
func describeRules(r *clientcmd.ClientConfigLoadingRules) string {
	if r.ExplicitPath != "" {
		return r.ExplicitPath
	}
	files := strings.Join(r.Precedence, ", ")
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		return "$KUBECONFIG: " + files
	}
	if files == "" {
		home, _ := os.UserHomeDir()
		return filepath.Join(home, ".kube", "config")
	}
	return files
}

// Cluster builds the clients once. It does not contact the server: discovery
// for the mapper is deferred until a kind is first mapped.
func (c *Connection) Cluster() (*steps.Cluster, error) {
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
		c.cluster = &steps.Cluster{Kube: kube, Dynamic: dyn, Mapper: mapper}
	})
	return c.cluster, c.err
}

func (c *Connection) wrap(err error) error {
	return fmt.Errorf("cluster %s (context %q): %w", c.Server, c.Context, err)
}

// ConnectTimeout bounds how long Identity retries transient errors, so that
// a short outage while cairn starts is ridden out but a cluster that is
// really gone is reported within a reasonable time.
var ConnectTimeout = 30 * time.Second

// Identity is what a run records about its cluster, and what resume compares:
// the context and server it was reached through, and the UID of the
// kube-system namespace, which is created once per cluster and never
// changes, so two clusters behind the same address are told apart.
func (c *Connection) Identity(ctx context.Context) (map[string]string, error) {
	cl, err := c.Cluster()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	var uid string
	err = Do(ctx, func(ctx context.Context) error {
		ns, err := cl.Kube.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err == nil {
			uid = string(ns.UID)
		}
		return err
	})
	switch {
	case err == nil:
		return map[string]string{"context": c.Context, "server": c.Server, "kube-system-uid": uid}, nil
	case apierrors.IsUnauthorized(err):
		return nil, c.unreachable(fmt.Errorf("the credentials were rejected (%w); renew them, e.g. log in again", err))
	case apierrors.IsForbidden(err):
		return nil, c.unreachable(fmt.Errorf("cairn reads namespace kube-system to identify the cluster, and may not: %w", err))
	}
	return nil, c.unreachable(err)
}

// ErrUnreachable marks a cluster that could not be reached or would not
// answer cairn.
var ErrUnreachable = errors.New("cluster unreachable")

// UnreachableError names the server and context that failed, since with
// several kubeconfig files merged the operator may not know which was used.
type UnreachableError struct {
	Server  string
	Context string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot use cluster %s (context %q): %v", e.Server, e.Context, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) hold.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

func (c *Connection) unreachable(err error) error {
	return &UnreachableError{Server: c.Server, Context: c.Context, Err: err}
}
