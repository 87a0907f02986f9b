package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A kubeconfig whose server refuses connections (a closed local port): cairn
// says so at once, at warn with the server, logs each retry, and gives up
// after --request-timeout with exit 5 and the reason.
func TestDeadServerIsReportedAtOnce(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	kubeconfig := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
`, server)), 0o600)
	r := cairn(t, filepath.Join(dir, "j.db"), "--request-timeout", "2s", "--kubeconfig", kubeconfig, "run", "demo", "-p", "workdir="+dir)
	if r.code != ExitCluster || !strings.Contains(r.stderr, "cairn: cannot use cluster "+server) || !strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("exit %d, want %d and the reason:\n%s", r.code, ExitCluster, r.stderr)
	}
	var retries []map[string]any
	for _, line := range strings.Split(r.stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["server"] == server {
			retries = append(retries, m)
		}
	}
	if len(retries) < 3 {
		t.Fatalf("want a log line per retry, got %d:\n%s", len(retries), r.stderr)
	}
	first := retries[0]
	if first["level"] != "warn" || first["attempt"] != 1.0 || !strings.Contains(first["error"].(string), "connection refused") ||
		!strings.Contains(first["message"].(string), "retrying for up to 2s") {
		t.Errorf("first failure: %v", first)
	}
	for i, m := range retries[1:] {
		if m["attempt"] != float64(i+2) {
			t.Errorf("retry %d: %v", i+2, m)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "j.db")); err == nil {
		t.Error("a run that could not reach its cluster left a journal")
	}
	if r := cairn(t, filepath.Join(dir, "j.db"), "run", "demo", "--request-timeout", "-1s"); r.code != ExitUsage {
		t.Errorf("negative --request-timeout: exit %d %s", r.code, r.stderr)
	}
}
