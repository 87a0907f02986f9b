package kube

import (
	"strings"
	"testing"
)

func TestParseFieldPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []fieldSeg
		str  string
	}{
		{in: "status.state", want: []fieldSeg{{key: "status", index: -1}, {key: "state", index: -1}}, str: "status.state"},
		{in: `metadata.labels.istio\.io/rev`, want: []fieldSeg{{key: "metadata", index: -1}, {key: "labels", index: -1}, {key: "istio.io/rev", index: -1}}, str: `metadata.labels.istio\.io/rev`},
		{in: "{.spec.containers[0].image}", want: []fieldSeg{{key: "spec", index: -1}, {key: "containers", index: -1}, {index: 0}, {key: "image", index: -1}}, str: "spec.containers[0].image"},
		{in: ".a[1][2]", want: []fieldSeg{{key: "a", index: -1}, {index: 1}, {index: 2}}, str: "a[1][2]"},
		{in: `a\\b`, want: []fieldSeg{{key: `a\b`, index: -1}}, str: `a\\b`},
	} {
		got, err := ParseFieldPath(tc.in)
		if err != nil {
			t.Errorf("ParseFieldPath(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseFieldPath(%q) = %#v, want %#v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseFieldPath(%q)[%d] = %#v, want %#v", tc.in, i, got[i], tc.want[i])
			}
		}
		if s := got.String(); s != tc.str {
			t.Errorf("ParseFieldPath(%q).String() = %q, want %q", tc.in, s, tc.str)
		}
	}
}

func TestParseFieldPathErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":         "empty field path",
		"a..b":     "empty segment",
		"a.":       "ends with a dot",
		`a\`:       "lone backslash",
		"a[x]":     "not a list index",
		"a[1":      "unterminated",
		"[0].a":    "starts with an index",
		"a[-1]":    "not a list index",
		"{}":       "empty field path",
		".":        "empty field path",
		"spec..x ": "empty segment",
	} {
		_, err := ParseFieldPath(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFieldPath(%q) error = %v, want it to mention %q", in, err, want)
		}
	}
}

func TestFieldPathLookup(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"istio.io/rev": "asm-1140-0"}},
		"spec": map[string]any{
			"replicas":   int64(3),
			"ratio":      1.5,
			"paused":     false,
			"containers": []any{map[string]any{"name": "app"}, map[string]any{"name": "istio-proxy"}},
			"empty":      nil,
		},
	}
	for path, want := range map[string]string{
		`metadata.labels.istio\.io/rev`: "asm-1140-0",
		"spec.replicas":                 "3",
		"spec.ratio":                    "1.5",
		"spec.paused":                   "false",
		"spec.containers[1].name":       "istio-proxy",
		"spec.containers.1.name":        "istio-proxy",
		"spec.containers[0]":            `{"name":"app"}`,
		"spec.empty":                    "",
	} {
		p, err := ParseFieldPath(path)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := p.LookupString(obj)
		if !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"metadata.labels.istio", "spec.containers[2].name", "spec.replicas.x", "spec[0]", "spec.containers.x"} {
		p, _ := ParseFieldPath(path)
		if v, ok := p.Lookup(obj); ok {
			t.Errorf("%s = %v, want not found", path, v)
		}
	}
}

func TestParseImage(t *testing.T) {
	for _, tc := range []struct {
		image             string
		repo, tag, digest string
	}{
		{"gcr.io/gke-release/asm/proxyv2:1.14.0-asm.1", "gcr.io/gke-release/asm/proxyv2", "1.14.0-asm.1", ""},
		{"host:5000/img:tag", "host:5000/img", "tag", ""},
		{"host:5000/img", "host:5000/img", "", ""},
		{"img", "img", "", ""},
		{"img@sha256:abc", "img", "", "sha256:abc"},
		{"host:5000/team/img:1.2@sha256:abc", "host:5000/team/img", "1.2", "sha256:abc"},
		{"localhost:5000/img@sha256:def", "localhost:5000/img", "", "sha256:def"},
	} {
		got := ParseImage(tc.image)
		if got.Repository != tc.repo || got.Tag != tc.tag || got.Digest != tc.digest {
			t.Errorf("ParseImage(%q) = %+v, want repo %q tag %q digest %q", tc.image, got, tc.repo, tc.tag, tc.digest)
		}
	}
	if !ParseImage("img:1.2@sha256:abc").MatchesTag("sha256:abc") || !ParseImage("img:1.2@sha256:abc").MatchesTag("1.2") {
		t.Error("a tagged, pinned image should match both its tag and its digest")
	}
	if ParseImage("host:5000/img").MatchesTag("5000/img") || ParseImage("img:1.20").MatchesTag("1.2") {
		t.Error("MatchesTag must compare the whole tag, never the registry port")
	}
}
