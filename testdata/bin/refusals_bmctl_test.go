package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestBmctlRefusalsAndVersion(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, stdout, _ := runTool(t, "bmctl", "1.12.1", "version")
	if code != 0 || !regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}\] bmctl version: 1\.12\.1-gke\.\d+, git commit: [0-9a-f]{40}, build date: .+\n$`).MatchString(stdout) {
		t.Errorf("bmctl version: exit %d, %q", code, stdout)
	}
	t.Setenv(envFakeDocker, "inactive")
	checkRefusals(t, []refusal{
		{tool: "bmctl", version: "1.12.1", args: []string{"check", "preflight", "--kubeconfig", kc}, code: 1, stderr: `^Error: required flag\(s\) "cluster" not set\n$`},
		{tool: "bmctl", version: "1.12.1", args: []string{"check", "preflight", "-c", "c1", "--kubeconfig", filepath.Join(dir, "nope")}, code: 1, stderr: `failed to load kubeconfig`},
		{tool: "bmctl", version: "1.12.1", args: []string{"check", "preflight", "-c", "c1", "--kubeconfig", kc}, code: 1, stderr: `Is the docker daemon running\?`, stdout: `Please check the logs at bmctl-workspace/c1/log/check-preflight-\d{8}-\d{6}/check-preflight.log`},
		{tool: "bmctl", version: "1.12.1", args: []string{"upgrade", "cluster", "-c", "c1", "--kubeconfig", kc}, code: 1, stderr: `Is the docker daemon running\?`},
		{tool: "bmctl", version: "1.12.1", args: []string{"upgrade", "clusters"}, code: 1, stderr: `unknown command`},
	})
}
