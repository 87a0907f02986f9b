//go:build integration

package e2e

import (
	"encoding/json"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// setNSLabel sets a namespace label, or removes it when value is "".
func (w *revWorld) setNSLabel(ns, key, value string) {
	t := w.h.t
	t.Helper()
	var v any = value
	if value == "" {
		v = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
	if _, err := w.h.env.Clientset.CoreV1().Namespaces().Patch(bg(t), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// tamperedPackage is a correctly signed package with a byte appended
// afterwards, so its signature no longer verifies.
func (w *revWorld) tamperedPackage() string {
	t := w.h.t
	t.Helper()
	url := w.makePackage("tampered", w.spec.newVersion, w.spec.newVersion)
	f, err := os.OpenFile(strings.TrimPrefix(url, "file://"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	return url
}
