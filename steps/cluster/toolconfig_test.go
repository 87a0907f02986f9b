package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The tools' kubeconfig holds only the chosen context, its cluster and its
// credentials (an exec plugin included), is current on it, and is private.
func TestToolKubeconfigSelectsTheChosenContextOnly(t *testing.T) {
	isolate(t)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["a"] = &clientcmdapi.Cluster{Server: "https://a.example:6443"}
	cfg.Clusters["b"] = &clientcmdapi.Cluster{Server: "https://b.example:6443", CertificateAuthority: "ca-b.crt"}
	cfg.AuthInfos["a"] = &clientcmdapi.AuthInfo{Token: "token-a"}
	cfg.AuthInfos["b"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "gke-gcloud-auth-plugin", APIVersion: "client.authentication.k8s.io/v1beta1"}}
	cfg.Contexts["ctx-a"] = &clientcmdapi.Context{Cluster: "a", AuthInfo: "a"}
	cfg.Contexts["ctx-b"] = &clientcmdapi.Context{Cluster: "b", AuthInfo: "b"}
	cfg.CurrentContext = "ctx-a"
	dir := t.TempDir()
	src := filepath.Join(dir, "merged")
	if err := clientcmd.WriteToFile(*cfg, src); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca-b.crt"), []byte("not checked until a request"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := Load(Source{Kubeconfig: src, Context: "ctx-b"})
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	tk, err := conn.WriteToolKubeconfig(base)
	if err != nil {
		t.Fatal(err)
	}
	got, err := clientcmd.LoadFromFile(tk.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got.CurrentContext != "ctx-b" || len(got.Contexts) != 1 || len(got.Clusters) != 1 || len(got.AuthInfos) != 1 {
		t.Fatalf("tool kubeconfig: current %q, %d contexts, %d clusters, %d users", got.CurrentContext, len(got.Contexts), len(got.Clusters), len(got.AuthInfos))
	}
	if c := got.Clusters["b"]; c == nil || c.Server != "https://b.example:6443" || c.CertificateAuthority != filepath.Join(dir, "ca-b.crt") {
		t.Errorf("cluster b: %+v (the CA path must be absolute, relative to the source file)", c)
	}
	if u := got.AuthInfos["b"]; u == nil || u.Exec == nil || u.Exec.Command != "gke-gcloud-auth-plugin" {
		t.Errorf("user b lost its exec plugin: %+v", u)
	}
	if fi, _ := os.Stat(tk.Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Dir(tk.Path)); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	if err := tk.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(tk.Path)); !os.IsNotExist(err) {
		t.Errorf("dir still there after Remove: %v", err)
	}
}

// A directory left by a process that was killed is removed by the next
// cairn; one of a live process is not.
func TestToolKubeconfigReapsDirsOfDeadProcesses(t *testing.T) {
	isolate(t)
	base := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadDir := filepath.Join(base, toolDirPrefix+strconv.Itoa(dead.Process.Pid)+"-x")
	liveDir := filepath.Join(base, toolDirPrefix+"1-x") // pid 1 is always alive
	for _, d := range []string{deadDir, liveDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := Load(Source{Kubeconfig: writeKubeconfig(t, "c", kctx{name: "c", server: "https://c.example"})})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := conn.WriteToolKubeconfig(base)
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Remove()
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		t.Errorf("dead process's dir kept: %v", err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("live process's dir removed: %v", err)
	}
}
