package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Unit tests of the pure parts; the behaviour against a cluster is covered
// by the integration tests (build tag "integration").

func TestParseFlags(t *testing.T) {
	specs := []flag{strFlag("set", "s"), boolFlag("skip-confirmation", "y"), strFlag("output", "o"), boolFlag("remote")}
	f, err := parseFlags([]string{"install", "--set", "a=b", "-s=c=d", "-y", "-ojson", "--remote=false", "x", "--", "--set"}, specs, parseOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.all("set"); !reflect.DeepEqual(got, []string{"a=b", "c=d"}) {
		t.Errorf("set = %v", got)
	}
	if !f.boolean("skip-confirmation", false) || f.str("output") != "json" || f.boolean("remote", true) {
		t.Errorf("flags %v", f.vals)
	}
	if !reflect.DeepEqual(f.args, []string{"install", "x", "--set"}) {
		t.Errorf("args %v", f.args)
	}
	if _, err := parseFlags([]string{"--nope"}, specs, parseOpts{}); err == nil || err.Error() != "unknown flag: --nope" {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := parseFlags([]string{"--set"}, specs, parseOpts{}); err == nil {
		t.Error("missing value accepted")
	}
	f, err = parseFlags([]string{"--enable-all", "--output-dir", "o"}, []flag{boolFlag("enable_all"), strFlag("output_dir")}, parseOpts{underscoreDash: true})
	if err != nil || !f.boolean("enable_all", false) || f.str("output_dir") != "o" {
		t.Errorf("asmcli-style flags: %v %v", f, err)
	}
}

func TestVersions(t *testing.T) {
	for release, want := range map[string]string{"1.14.0-asm.0": "asm-1140-0", "1.14.0-asm.1": "asm-1140-1", "1.9.3-asm.2": "asm-193-2"} {
		if got := revisionLabel(release); got != want {
			t.Errorf("revisionLabel(%s) = %s, want %s", release, got, want)
		}
	}
	for abm, want := range map[string]string{"1.11.3": "v1.22.8-gke.200", "1.12.0": "v1.23.5-gke.1504", "1.12.1": "v1.23.5-gke.1505"} {
		v, _ := parseVersion(abm)
		if got := kubeletVersion(v); got != want {
			t.Errorf("kubeletVersion(%s) = %s, want %s", abm, got, want)
		}
	}
	if v, ok := parseVersion("v1.23.5-gke.1505"); !ok || v != (semver{1, 23, 5}) {
		t.Errorf("parseVersion: %v %v", v, ok)
	}
	if imageTag("gcr.io/gke-release/asm/proxyv2:1.14.0-asm.1") != "1.14.0-asm.1" || imageHub("gcr.io/gke-release/asm/proxyv2:1.14.0-asm.1") != "gcr.io/gke-release/asm" ||
		imageTag("localhost:5000/istio/pilot") != "" {
		t.Error("imageTag/imageHub")
	}
}

func TestInjectionPatch(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-7d9f8b6c5d-", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}, {Name: "istio-proxy", Image: "auto"}}},
	}
	b, err := injectionPatch(pod, "asm-1140-1", "gcr.io/gke-release/asm/proxyv2:1.14.0-asm.1", "1.14.0-asm.1")
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op, Path string
		Value    json.RawMessage
	}
	if err := json.Unmarshal(b, &ops); err != nil || len(ops) != 3 {
		t.Fatalf("patch %s: %v", b, err)
	}
	var labels map[string]string
	var containers []corev1.Container
	_ = json.Unmarshal(ops[0].Value, &labels)
	_ = json.Unmarshal(ops[2].Value, &containers)
	// The sidecar template labels no istio.io/rev; the revision is in
	// the status annotation (and, from 1.18, an istio.io/rev annotation).
	if _, ok := labels["istio.io/rev"]; ok || labels["app"] != "web" || labels["service.istio.io/canonical-name"] != "web" {
		t.Errorf("labels %v", labels)
	}
	var anns map[string]string
	_ = json.Unmarshal(ops[1].Value, &anns)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: anns}}
	if got := injectedRevision(p); got != "asm-1140-1" {
		t.Errorf("injected revision %q from annotations %v", got, anns)
	}
	if _, ok := anns["istio.io/rev"]; ok {
		t.Errorf("1.14 added an istio.io/rev annotation: %v", anns)
	}
	if len(containers) != 2 || containers[1].Image != "gcr.io/gke-release/asm/proxyv2:1.14.0-asm.1" {
		t.Errorf("containers %+v", containers)
	}
}

func TestInjectionWebhooks(t *testing.T) {
	cc := serviceClientConfig("istio-system", "istiod-1-15-4", "/inject")
	if n := len(injectionWebhooks("prod", cc)); n != 2 {
		t.Errorf("tag prod: %d webhooks, want 2", n)
	}
	whs := injectionWebhooks("default", cc)
	if len(whs) != 4 || whs[2].Name != "namespace.sidecar-injector.istio.io" || whs[2].NamespaceSelector.MatchExpressions[0].Values[0] != "enabled" {
		t.Errorf("tag default: %+v", whs)
	}
}

func TestDescribeCluster(t *testing.T) {
	const valueFormat = "value(workloadIdentityConfig.workloadPool)"
	if out, err := describeCluster("c1", "us-central1-c", "p1", valueFormat); err != nil || out != "p1.svc.id.goog\n" {
		t.Errorf("workload pool: %q %v", out, err)
	}
	if out, err := describeCluster("c1", "us-central1-c", "p1", ""); err != nil || !strings.Contains(out, "workloadPool: p1.svc.id.goog") {
		t.Errorf("describe: %q %v", out, err)
	}
	t.Setenv(envWorkloadPool, "")
	if out, err := describeCluster("c1", "us-central1-c", "p1", valueFormat); err != nil || out != "\n" {
		t.Errorf("without Workload Identity: %q %v", out, err)
	}
	if out, _ := describeCluster("c1", "us-central1-c", "p1", ""); strings.Contains(out, "workloadIdentityConfig") {
		t.Errorf("describe without Workload Identity: %q", out)
	}
	if _, err := describeCluster("c1", "", "p1", ""); err == nil {
		t.Error("describe without a location")
	}
}
