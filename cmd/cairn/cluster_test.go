package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const kubeBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: kube-book}
steps:
  - id: mark
    exec: {argv: ["true"]}
    undo:
      kube.label: {kind: Namespace, name: default, remove: [cairn-test]}
`

// noKubeconfig makes kubeconfig discovery find nothing, whatever the machine
// running the tests has in ~/.kube.
func noKubeconfig(t *testing.T) {
	t.Helper()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	old := clientcmd.RecommendedHomeFile
	clientcmd.RecommendedHomeFile = filepath.Join(t.TempDir(), "absent-home")
	t.Cleanup(func() { clientcmd.RecommendedHomeFile = old })
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateAndPlanNeedNoKubeconfig(t *testing.T) {
	noKubeconfig(t)
	pb := writeFile(t, "kube.yaml", kubeBook)
	j := filepath.Join(t.TempDir(), "j.db")
	for _, args := range [][]string{{"validate", pb}, {"plan", pb}, {"playbooks", "show", pb}, {"playbooks", "kinds"}} {
		if r := cairn(t, j, args...); r.code != ExitOK {
			t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestRunWithoutKubeconfigExits5AndRecordsNothing(t *testing.T) {
	noKubeconfig(t)
	pb := writeFile(t, "kube.yaml", kubeBook)
	j := filepath.Join(t.TempDir(), "j.db")
	r := cairn(t, j, "run", pb)
	if r.code != ExitCluster || !strings.Contains(r.stderr, "no kubeconfig found") || !strings.Contains(r.stderr, "absent") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(j); err == nil {
		t.Fatalf("a run that never reached its cluster created journal %s", j)
	}
	// An exec-only playbook needs no cluster, unless one is named.
	exec := writeFile(t, "exec.yaml", "apiVersion: cairn/v1\nkind: Playbook\nmetadata: {name: x}\nsteps:\n  - id: a\n    exec: {argv: [\"true\"]}\n")
	if r := cairn(t, j, "run", exec); r.code != ExitOK {
		t.Fatalf("exec-only run: exit %d\n%s", r.code, r.stderr)
	}
	if r := cairn(t, j, "run", exec, "--context", "prod"); r.code != ExitCluster || !strings.Contains(r.stderr, "no kubeconfig found") {
		t.Fatalf("exec-only run with --context: exit %d\n%s", r.code, r.stderr)
	}
}

func TestUnknownContextExits5ListingContexts(t *testing.T) {
	noKubeconfig(t)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "x"}
	for _, n := range []string{"staging", "prod"} {
		cfg.Contexts[n] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, filepath.Join(t.TempDir(), "j.db"), "run", writeFile(t, "kube.yaml", kubeBook), "--kubeconfig", kc, "--context", "dev")
	if r.code != ExitCluster || !strings.Contains(r.stderr, `context "dev"`) || !strings.Contains(r.stderr, "prod, staging") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// A server that rejects cairn's credentials fails at once (no retrying a
// 401) and the message names the server and the context.
func TestRejectedCredentialsExit5NamingServerAndContext(t *testing.T) {
	noKubeconfig(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`))
	}))
	defer srv.Close()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "expired"}
	cfg.Contexts["prod"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "prod"
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, filepath.Join(t.TempDir(), "j.db"), "run", writeFile(t, "kube.yaml", kubeBook), "--kubeconfig", kc)
	if r.code != ExitCluster || !strings.Contains(r.stderr, srv.URL) || !strings.Contains(r.stderr, `context "prod"`) || !strings.Contains(r.stderr, "credentials") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
