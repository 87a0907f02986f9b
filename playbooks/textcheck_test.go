package playbooks

import (
	"strings"
	"testing"
)

// What the YAML parser refuses without a place is reported with line and
// column, every occurrence (up to a bound), with what to do (issue 14 D17).
func TestBadCharactersHavePositions(t *testing.T) {
	head := "apiVersion: cairn/v1\nkind: Playbook\n"
	for _, c := range []struct {
		name, src string
		want      []string
	}{
		{"NUL", head + "metadata: {name: t\x00x}\nsteps: []\n", []string{"t.yaml:3:19: control character U+0000 is not allowed in YAML"}},
		{"bell and DEL", head + "metadata: {name: t, description: \"a\x07b\"}\nsteps: [\x7f]\n",
			[]string{"t.yaml:3:36: control character U+0007", "t.yaml:4:9: control character U+007F"}},
		{"not UTF-8", head + "metadata: {name: \xff\xfe}\nsteps: []\n",
			[]string{"t.yaml:3:18: byte 0xff is not UTF-8; save the file as UTF-8", "t.yaml:3:19: byte 0xfe is not UTF-8"}},
		{"column counts characters", head + "metadata: {name: t, description: \"é\x01\"}\nsteps: []\n", []string{"t.yaml:3:36: control character U+0001"}},
		{"tab indentation", head + "metadata:\n\tname: t\nsteps: []\n", []string{"t.yaml:4:1: invalid YAML: found character that cannot start any token (a tab; YAML indents with spaces)"}},
		{"too deep", head + "metadata: {name: t}\nsteps: " + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + "\n", []string{"t.yaml:4:10008: invalid YAML: exceeded max depth of 10000"}},
		{"binary", strings.Repeat("\x00", 50), []string{"t.yaml:1:1: control character U+0000", "t.yaml:1:10: more bad characters follow; is this a text file?"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("t.yaml", []byte(c.src), testRegistry{})
			if err == nil {
				t.Fatal("loaded")
			}
			got := err.Error()
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors lack %q:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\n") + 1; c.name == "binary" && n != 11 {
				t.Errorf("%d errors for a binary file, want 10 and a note", n)
			}
		})
	}
}
