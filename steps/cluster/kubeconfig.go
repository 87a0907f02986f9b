// Package cluster is how cairn reaches a Kubernetes cluster: kubeconfig
// loading by kubectl's rules, the clients step kinds talk through, the
// cluster's identity that a run records, the Lease that keeps two runs off
// one cluster, the kubeconfig handed to the tools a step runs, and the
// retrying of transient API errors. It holds no step kinds (see steps/kube).
package cluster

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
	// Raw is the merged kubeconfig the context was picked from; the
	// kubeconfig handed to tools is minified from it.
	Raw clientcmdapi.Config
	// Timeout bounds how long Identity retries transient errors, so that a
	// short outage while cairn starts is ridden out but a cluster that is
	// really gone is reported in reasonable time. 0 means DefaultTimeout.
	Timeout time.Duration
	// Log hears of each failed attempt to reach the cluster.
	Log zerolog.Logger

	once    sync.Once
	clients *Clients
	err     error
}

// DefaultTimeout bounds connecting: reading the cluster's identity, taking
// and releasing the lock.
const DefaultTimeout = 30 * time.Second

func (c *Connection) timeout() time.Duration { return orDur(c.Timeout, DefaultTimeout) }

// KubeconfigError is a kubeconfig that cannot be used: none found, or no
// such context. Contexts lists the ones it has, to choose from.
type KubeconfigError struct {
	Problem  string
	Missing  bool // no kubeconfig file at all
	Contexts []string
}

func (e *KubeconfigError) Error() string { return e.Problem }

// Load reads the kubeconfig without contacting the server.
func Load(src Source) (*Connection, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = src.Kubeconfig
	if src.Kubeconfig != "" {
		if _, err := os.Stat(src.Kubeconfig); err != nil {
			return nil, &KubeconfigError{Problem: fmt.Sprintf("kubeconfig %s: %v", src.Kubeconfig, errors.Unwrap(err)), Missing: true}
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
		return nil, &KubeconfigError{Problem: fmt.Sprintf("no kubeconfig found (looked at %s)", describeRules(rules)), Missing: true}
	}
	kctx, ok := raw.Contexts[ctxName]
	if !ok {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		if ctxName == "" {
			return nil, &KubeconfigError{Problem: fmt.Sprintf("kubeconfig (%s) has no current context; it has: %s", describeRules(rules), strings.Join(names, ", ")), Contexts: names}
		}
		return nil, &KubeconfigError{Problem: fmt.Sprintf("context %q is not in the kubeconfig (%s); it has: %s", ctxName, describeRules(rules), strings.Join(names, ", ")), Contexts: names}
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
	return &Connection{Source: src, Context: ctxName, Server: server, Config: cfg, Raw: raw}, nil
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
