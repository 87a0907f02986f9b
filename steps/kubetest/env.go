// Package kubetest connects integration tests to the local control plane that
// testdata/kubecluster/up.sh starts (real etcd, kube-apiserver, controllers
// and scheduler; kwok plays the kubelets) and creates the API objects the
// upgrade scenarios need.
//
// Integration tests live behind the "integration" build tag and are run by
// `make test-integration`, which starts and stops the cluster around them:
//
//	env := kubetest.New(t)
//	ns := env.Namespace(t, map[string]string{"istio.io/rev": rev})
//	env.CreateWorkload(t, ns, kubetest.Workload{Name: "web", ProxyVersion: "1.20.3-asm.1"})
//	env.WaitDeploymentAvailable(t, ns, "web", time.Minute)
//
// The cluster is shared by every test of the run, in every package, so
// names of cluster-scoped objects (webhook configurations, which embed the
// Istio revision or tag) must be unique: use UniqueName for revisions.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment variables set by `make test-integration` (and printed by up.sh).
const (
	EnvClusterDir = "CAIRN_CLUSTER_DIR"
	EnvKubeconfig = "KUBECONFIG"
)

// markerFile is written by up.sh into every state directory.
const markerFile = ".cairn-cluster"

// Env is a connection to the local test cluster.
type Env struct {
	ClusterDir string // up.sh state dir: pids/, logs/, kube-apiserver.args
	Kubeconfig string // admin (system:masters) kubeconfig
	RESTConfig *rest.Config
	Clientset  kubernetes.Interface
	Dynamic    dynamic.Interface

	mu            sync.Mutex
	apiserverDown bool // stopped by this Env and not started again yet
}

// New connects to the cluster named by CAIRN_CLUSTER_DIR (or, failing that,
// KUBECONFIG). It refuses any kubeconfig that up.sh did not write, so that an
// integration run can never create test objects in a developer's real cluster.
func New(t testing.TB) *Env {
	t.Helper()
	dir := os.Getenv(EnvClusterDir)
	kubeconfig := ""
	switch {
	case dir != "":
		kubeconfig = filepath.Join(dir, "kubeconfig")
	case os.Getenv(EnvKubeconfig) != "":
		kubeconfig = os.Getenv(EnvKubeconfig)
		dir = filepath.Dir(kubeconfig)
	default:
		t.Fatalf("kubetest: neither %s nor %s is set; integration tests need the local cluster: "+
			"run `make test-integration`, or `make cluster-up` and export the variables it prints",
			EnvClusterDir, EnvKubeconfig)
	}
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		t.Fatalf("kubetest: %s is not a cluster started by testdata/kubecluster/up.sh (no %s); "+
			"refusing to run integration tests against it. Run `make cluster-up`.", dir, markerFile)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubetest: loading %s: %v (is the cluster up? `make cluster-up`)", kubeconfig, err)
	}
	// Tests create objects in bursts; the client-side default of 5 QPS would
	// make the rate limiter, not the cluster, the thing being measured.
	cfg.QPS, cfg.Burst = 200, 400
	cfg.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubetest: clientset: %v", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubetest: dynamic client: %v", err)
	}
	lockFor(dir).share(t, dir)
	return &Env{ClusterDir: dir, Kubeconfig: kubeconfig, RESTConfig: cfg, Clientset: cs, Dynamic: dyn}
}

// ctx returns a context for setup calls. t.Context() is not used because it
// is already cancelled when Cleanup functions run.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// UniqueName turns prefix into a DNS-1123 label of at most maxLen characters
// ending in a random suffix, e.g. "testfoo-bar-x7k2p".
func UniqueName(prefix string, maxLen int) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)[:5]
	s := nonDNS.ReplaceAllString(strings.ToLower(prefix), "-")
	s = strings.Trim(s, "-")
	if limit := maxLen - len(suffix) - 1; len(s) > limit {
		s = strings.TrimRight(s[:limit], "-")
	}
	if s == "" {
		return "t-" + suffix
	}
	return s + "-" + suffix
}

// Namespace creates a namespace named after the test, with the given labels,
// and waits for its default ServiceAccount: until the controller-manager
// creates it, the ServiceAccount admission plugin rejects every pod there.
// Cleanup deletes the namespace without waiting (deletion takes seconds).
func (e *Env) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	c := ctx(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   UniqueName(t.Name(), 63),
		Labels: map[string]string{"cairn.dev/test": "true"},
	}}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	created, err := e.Clientset.CoreV1().Namespaces().Create(c, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: creating namespace %s: %v", ns.Name, err)
	}
	t.Cleanup(func() { e.deleteIgnoringNotFound(t, "namespace "+created.Name, e.deleteNamespace(created.Name)) })
	err = wait.PollUntilContextTimeout(c, 50*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
		_, err := e.Clientset.CoreV1().ServiceAccounts(created.Name).Get(c, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("kubetest: namespace %s: default ServiceAccount never appeared: %v", created.Name, err)
	}
	return created.Name
}

func (e *Env) deleteNamespace(name string) func(context.Context) error {
	return func(c context.Context) error {
		return e.Clientset.CoreV1().Namespaces().Delete(c, name, metav1.DeleteOptions{})
	}
}

// deleteIgnoringNotFound runs a cleanup deletion. Failures are logged, not
// fatal: a test that stopped the apiserver may leave nothing to clean up
// with, and the cluster is discarded after the run anyway.
func (e *Env) deleteIgnoringNotFound(t testing.TB, what string, del func(context.Context) error) {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := del(c); err != nil && !apierrors.IsNotFound(err) {
		t.Logf("kubetest: cleanup: deleting %s: %v", what, err)
	}
}
