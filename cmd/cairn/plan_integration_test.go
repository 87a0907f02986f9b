//go:build integration

package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

func TestPlanDiffDryRunsApply(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	ctx := context.Background()
	_, err := env.Clientset.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh"}, Data: map[string]string{"rev": "asm-1130-0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	book := writeFile(t, "apply.yaml", `apiVersion: cairn/v1
kind: Playbook
metadata: {name: apply-diff}
params:
  ns: {type: string, required: true}
  rev: {type: string, required: true}
steps:
  - id: mesh
    kube.apply:
      force: true
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: mesh, namespace: "${params.ns}"}
        data: {rev: "${params.rev}"}
`)
	r := cairn(t, filepath.Join(dir, "j.db"), "plan", book, "-p", "ns="+ns, "-p", "rev=asm-1140-0", "--diff", "--kubeconfig", env.Kubeconfig)
	if r.code != ExitOK || !strings.Contains(r.stdout, "-  rev: asm-1130-0") || !strings.Contains(r.stdout, "+  rev: asm-1140-0") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cm, err := env.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, "mesh", metav1.GetOptions{})
	if err != nil || cm.Data["rev"] != "asm-1130-0" {
		t.Fatalf("plan changed the cluster: %v %v", cm.Data, err)
	}
}
