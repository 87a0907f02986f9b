package playbooks

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join(testdataDir, dir, "*.yaml"))
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	if src, ok := Builtin("demo"); ok {
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"{",
		"a: &a [*a]",
		header + "steps: [{id: a, exec: {argv: ['${params.x}']}}]",
		header + "steps: [{id: a, foreach: '${params.l}', when: \"'${item}' == x\", gate: {}}]\nparams: {l: {type: list}}",
		header + "steps: [{id: a, types: {inners: [{port: 99999999999999999999}], innerPtr: ~}}]",
		header + "steps:\n- id: a\n  gate: {}\n  undo: {exec: {argv: [\"${steps.a.x}\", \"$${\"]}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		pb, err := Load("fuzz.yaml", src, testRegistry{})
		if err != nil {
			if pb != nil {
				t.Fatal("playbook returned with an error")
			}
			return
		}
		if len(pb.Steps) == 0 {
			t.Fatal("loaded a playbook without steps")
		}
		seen := map[string]bool{}
		for _, st := range pb.Steps {
			if st.ID == "" || seen[st.ID] {
				t.Fatalf("empty or duplicate id %q", st.ID)
			}
			seen[st.ID] = true
			if st.Kind == "" || st.Params == nil || st.MaxParallel < 1 || st.Retry.Attempts < 1 {
				t.Fatalf("incomplete step %+v", st)
			}
			// Whatever loads must render: references were all checked.
			sc := &Scope{Params: Values{}, HasItem: true,
				Output: func(string, string) (string, error) { return "o", nil }}
			for _, p := range pb.Params {
				sc.Params[p.Name] = zeroValue(p.Type)
			}
			if _, err := Render(st.Params, sc); err != nil {
				t.Fatalf("loaded but does not render: %v", err)
			}
			if st.When != nil {
				if _, err := st.When.Eval(sc); err != nil {
					t.Fatalf("loaded but when fails: %v", err)
				}
			}
		}
	})
}
