package cluster

import "testing"

// Resume and rollback without --context use the context that reaches the
// run's cluster: the current one if it does, else the recorded name, else
// the only context with the recorded server; otherwise the current one,
// which the identity comparison then refuses.
func TestRecordedClusterPicksTheContextThatReachesIt(t *testing.T) {
	isolate(t)
	merged := writeKubeconfig(t, "a",
		kctx{name: "a", server: "https://a.example"},
		kctx{name: "b", server: "https://b.example"},
		kctx{name: "b-renamed", server: "https://b.example", user: "b"},
		kctx{name: "c", server: "https://c.example"},
	)
	for _, tc := range []struct {
		what     string
		context  string // given with --context
		recorded map[string]string
		want     string
	}{
		{"recorded name and server", "", map[string]string{"context": "b", "server": "https://b.example"}, "b"},
		{"the current context reaches it", "", map[string]string{"context": "prod", "server": "https://a.example"}, "a"},
		{"renamed, one context with the server", "", map[string]string{"context": "prod", "server": "https://c.example"}, "c"},
		{"renamed, two contexts with the server", "", map[string]string{"context": "prod", "server": "https://b.example"}, "a"},
		{"recorded name now names another server", "", map[string]string{"context": "c", "server": "https://b.example"}, "a"},
		{"no context reaches it", "", map[string]string{"context": "b", "server": "https://gone.example"}, "a"},
		{"no recorded server", "", map[string]string{"context": "b"}, "a"},
		{"not a resume", "", nil, "a"},
		{"--context wins", "c", map[string]string{"context": "b", "server": "https://b.example"}, "c"},
	} {
		a := &Access{Source: Source{Kubeconfig: merged, Context: tc.context}}
		a.Recorded(tc.recorded)
		conn, err := a.Connection()
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if conn.Context != tc.want {
			t.Errorf("%s: context %q, want %q", tc.what, conn.Context, tc.want)
		}
		if want := "https://" + tc.want + ".example"; conn.Server != want || conn.Config.Host != want {
			t.Errorf("%s: server %q (client %q), want %q", tc.what, conn.Server, conn.Config.Host, want)
		}
	}
}
