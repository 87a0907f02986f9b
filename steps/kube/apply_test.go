package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseManifests(t *testing.T) {
	objs, err := parseManifests([]byte(`
# leading comment
---
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system}
spec:
  ports: [{name: https-webhook, port: 443, targetPort: 15017}]
---
---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {k: v}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	if strings.Join(names, ",") != "Service/istiod,ConfigMap/a,ConfigMap/b" {
		t.Fatalf("objects = %v", names)
	}
	port := objs[0].Object["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"]
	if _, ok := port.(int64); !ok {
		t.Errorf("port decoded as %T, want int64 as the API machinery expects", port)
	}

	for src, want := range map[string]string{
		"":                                    "no objects",
		"# nothing\n---\n":                    "no objects",
		"apiVersion: v1\nmetadata: {name: a}": "document 1: Object 'Kind' is missing",
		"kind: Service\nmetadata: {name: a}":  "document 1: Service a has no apiVersion",
		"apiVersion: v1\nkind: Service":       "document 1: Service has no metadata.name",
		"a: [":                                "document 1:",
		"apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: [": "document 2:",
	} {
		if _, err := parseManifests([]byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseManifests(%q) = %v, want %q", src, err, want)
		}
	}
}

func TestApplyParamsValidate(t *testing.T) {
	for _, tc := range []struct {
		p    ApplyParams
		want string
	}{
		{ApplyParams{}, ": set file"},
		{ApplyParams{File: "a.yaml", Manifest: "x"}, "manifest: set file or manifest, not both"},
		{ApplyParams{Manifest: "apiVersion: v1\nkind: Service"}, "manifest: document 1: Service has no metadata.name"},
	} {
		errs := tc.p.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Field+": "+errs[0].Msg, tc.want) {
			t.Errorf("Validate(%+v) = %v, want one error like %q", tc.p, errs, tc.want)
		}
	}
	for _, p := range []ApplyParams{
		{File: "${params.dir}/istiod-service.yaml"},
		{Manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: istiod-${params.rev}}"},
		{Manifest: "${params.whole}"},
	} {
		if errs := p.Validate(); len(errs) != 0 {
			t.Errorf("Validate(%+v) = %v, want none", p, errs)
		}
	}
}

func TestApplyObjectsReadsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := (&ApplyParams{File: path}).objects()
	if err != nil || len(objs) != 1 {
		t.Fatalf("objects = %v, %v", objs, err)
	}
	_, err = (&ApplyParams{File: filepath.Join(dir, "missing.yaml")}).objects()
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
