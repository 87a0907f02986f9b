package playbooks

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// The seeds test the application after every namespace; the built-ins that
// move namespaces one at a time offer the same pause, off by default: a
// bool parameter gateEachNamespace and, in each per-namespace group, a
// gate that runs only with it.
func TestBuiltinGateEachNamespace(t *testing.T) {
	groups := map[string][]string{
		"asm-revision-upgrade":  {"rest"},
		"istio-canary-tags":     {"rest", "rest-injection"},
		"asm-asmcli-canary":     {"apps"},
		"asm-managed-migration": {"migrate"},
	}
	for name, want := range groups {
		src, ok := Builtin(name)
		if !ok {
			t.Fatalf("no built-in %s", name)
		}
		var pb struct {
			Params map[string]struct {
				Type    string `yaml:"type"`
				Default any    `yaml:"default"`
			} `yaml:"params"`
			Steps []map[string]any `yaml:"steps"`
		}
		if err := yaml.Unmarshal(src, &pb); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p, ok := pb.Params["gateEachNamespace"]; !ok || p.Type != "bool" || p.Default != false {
			t.Errorf("%s: param gateEachNamespace = %+v (present %v), want a bool defaulting to false", name, p, ok)
		}
		for _, g := range want {
			found := false
			for _, s := range pb.Steps {
				if s["id"] != g {
					continue
				}
				inner, _ := s["steps"].([]any)
				for _, is := range inner {
					m, _ := is.(map[string]any)
					if _, isGate := m["gate"]; isGate && m["when"] == "${params.gateEachNamespace}" {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("%s: group %s has no gate with when: ${params.gateEachNamespace}", name, g)
			}
		}
	}
}
