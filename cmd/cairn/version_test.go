package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	info := func(v string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Version: v}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		linked string
		info   func() (*debug.BuildInfo, bool)
		want   string
	}{
		{"v1.4.0", info("v9.9.9"), "v1.4.0"},
		{"dev", info("v1.2.3"), "v1.2.3"},
		{"dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "false"), "dev-0123456789ab"},
		{"dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "dev-0123456789ab-dirty"},
		{"dev", info("(devel)"), "dev"},
		{"dev", none, "dev"},
	} {
		if got := versionOf(tc.linked, tc.info); got != tc.want {
			t.Errorf("versionOf(%q) = %q, want %q", tc.linked, got, tc.want)
		}
	}
}
