package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// isolate makes kubeconfig discovery hermetic: no $KUBECONFIG, and a home
// kubeconfig path that does not exist (clientcmd computes it at init time,
// so setting HOME would not do).
func isolate(t *testing.T) string {
	t.Helper()
	t.Setenv("KUBECONFIG", "")
	home := filepath.Join(t.TempDir(), ".kube", "config")
	old := clientcmd.RecommendedHomeFile
	clientcmd.RecommendedHomeFile = home
	t.Cleanup(func() { clientcmd.RecommendedHomeFile = old })
	return home
}

type kctx struct{ name, server, user string }

// writeKubeconfig writes a kubeconfig with one cluster and user per context.
func writeKubeconfig(t *testing.T, current string, ctxs ...kctx) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for _, c := range ctxs {
		cfg.Clusters[c.name] = &clientcmdapi.Cluster{Server: c.server, InsecureSkipTLSVerify: true}
		user := c.user
		if user == "" {
			user = c.name
			cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: "t-" + c.name}
		}
		cfg.Contexts[c.name] = &clientcmdapi.Context{Cluster: c.name, AuthInfo: user}
	}
	cfg.CurrentContext = current
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got none", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestLoadWithoutKubeconfigSaysWhereItLooked(t *testing.T) {
	home := isolate(t)
	_, err := Load(Source{})
	wantErr(t, err, "no kubeconfig found", home)
	var ke *KubeconfigError
	if !errors.As(err, &ke) || !ke.Missing {
		t.Errorf("no kubeconfig: %#v, want a *KubeconfigError with Missing", err)
	}

	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	t.Setenv("KUBECONFIG", a+string(os.PathListSeparator)+b)
	_, err = Load(Source{})
	wantErr(t, err, "no kubeconfig found", "$KUBECONFIG", a, b)

	_, err = Load(Source{Kubeconfig: filepath.Join(dir, "missing")})
	wantErr(t, err, filepath.Join(dir, "missing"), "no such file")
}

func TestLoadUnknownContextListsTheKnownOnes(t *testing.T) {
	isolate(t)
	path := writeKubeconfig(t, "", kctx{name: "prod", server: "https://prod:6443"}, kctx{name: "dev", server: "https://dev:6443"})
	_, err := Load(Source{Kubeconfig: path, Context: "staging"})
	wantErr(t, err, `context "staging"`, path, "dev, prod")

	// No current context and none asked for: say so, and list them too.
	_, err = Load(Source{Kubeconfig: path})
	wantErr(t, err, "no current context", "dev, prod")
	var ke *KubeconfigError
	if !errors.As(err, &ke) || !reflect.DeepEqual(ke.Contexts, []string{"dev", "prod"}) {
		t.Errorf("no current context: %#v, want a *KubeconfigError listing dev and prod", err)
	}

	conn, err := Load(Source{Kubeconfig: path, Context: "dev"})
	if err != nil || conn.Context != "dev" || conn.Server != "https://dev:6443" {
		t.Fatalf("Load dev: %+v %v", conn, err)
	}
}

func TestLoadMergesKubeconfigFilesAsKubectlDoes(t *testing.T) {
	isolate(t)
	first := writeKubeconfig(t, "one", kctx{name: "one", server: "https://one:6443"}, kctx{name: "shared", server: "https://first:6443"})
	second := writeKubeconfig(t, "two", kctx{name: "two", server: "https://two:6443"}, kctx{name: "shared", server: "https://second:6443"})
	t.Setenv("KUBECONFIG", first+string(os.PathListSeparator)+second)

	conn, err := Load(Source{})
	if err != nil || conn.Context != "one" || conn.Server != "https://one:6443" {
		t.Fatalf("current context comes from the first file: %+v %v", conn, err)
	}
	conn, err = Load(Source{Context: "two"})
	if err != nil || conn.Server != "https://two:6443" || conn.Config.BearerToken != "t-two" {
		t.Fatalf("a context of the second file: %+v %v", conn, err)
	}
	conn, err = Load(Source{Context: "shared"})
	if err != nil || conn.Server != "https://first:6443" {
		t.Fatalf("the first file wins a name both define: %+v %v", conn, err)
	}
	// --kubeconfig replaces $KUBECONFIG, as with kubectl.
	if _, err := Load(Source{Kubeconfig: second, Context: "one"}); err == nil {
		t.Fatal("--kubeconfig did not replace $KUBECONFIG")
	}
}

func TestLoadAcceptsExecCredentialPlugin(t *testing.T) {
	isolate(t)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["gke"] = &clientcmdapi.Cluster{Server: "https://203.0.113.10", CertificateAuthorityData: nil}
	cfg.AuthInfos["gke"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion:      "client.authentication.k8s.io/v1beta1",
		Command:         "/nonexistent/gke-gcloud-auth-plugin",
		Args:            []string{"--use_application_default_credentials"},
		InteractiveMode: clientcmdapi.IfAvailableExecInteractiveMode,
	}}
	cfg.Contexts["gke_proj_zone_c1"] = &clientcmdapi.Context{Cluster: "gke", AuthInfo: "gke"}
	cfg.CurrentContext = "gke_proj_zone_c1"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	conn, err := Load(Source{Kubeconfig: path})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if conn.Config.ExecProvider == nil || conn.Config.ExecProvider.Command != "/nonexistent/gke-gcloud-auth-plugin" {
		t.Fatalf("exec provider not carried into the client config: %+v", conn.Config.ExecProvider)
	}
	// Building clients must not run the plugin either: only a request does.
	if _, err := conn.Clients(); err != nil {
		t.Fatalf("Cluster: %v", err)
	}
}

func TestIdentityNamesServerAndContextWhenUnreachable(t *testing.T) {
	isolate(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	path := writeKubeconfig(t, "gone", kctx{name: "gone", server: "https://" + addr})
	conn, err := Load(Source{Kubeconfig: path})
	if err != nil {
		t.Fatal(err)
	}
	conn.Timeout = time.Second
	_, err = conn.Identity(context.Background())
	wantErr(t, err, "https://"+addr, `context "gone"`)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("%v is not ErrUnreachable", err)
	}
}

// TestIdentityRidesOutAShortOutage has the API server answer 503 for longer
// than Do's backoff takes to reach its cap, which is where a retry built on
// wait.ExponentialBackoff used to give up.
func TestIdentityRidesOutAShortOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 8s")
	}
	isolate(t)
	up := time.Now().Add(7 * time.Second)
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if time.Now().Before(up) || r.URL.Path != "/api/v1/namespaces/kube-system" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":"0f6c-uid"}}`))
	}))
	defer srv.Close()
	path := writeKubeconfig(t, "flaky", kctx{name: "flaky", server: srv.URL})
	conn, err := Load(Source{Kubeconfig: path})
	if err != nil {
		t.Fatal(err)
	}
	id, err := conn.Identity(context.Background())
	if err != nil {
		t.Fatalf("Identity after %d calls: %v", calls.Load(), err)
	}
	want := map[string]string{"context": "flaky", "server": srv.URL, "kube-system-uid": "0f6c-uid"}
	for k, v := range want {
		if id[k] != v {
			t.Fatalf("identity %v, want %v", id, want)
		}
	}
}
