package cluster

import (
	"maps"
	"slices"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// contextFor picks the context of raw that reaches a run's recorded
// cluster, for a resume or rollback the operator did not give a context:
// the run was started with --context b, the shell's current context is a,
// and the tools must act on b again. Only the server can be compared
// without connecting; the kube-system UID is compared once connected, and
// a mismatch is refused there. It returns current when current reaches the
// recorded server, when nothing does, or when several contexts do and none
// has the recorded name (which of them is meant cannot be told).
func contextFor(raw clientcmdapi.Config, current string, recorded map[string]string) string {
	server := recorded["server"]
	if server == "" {
		return current
	}
	serverOf := func(name string) string {
		kctx, ok := raw.Contexts[name]
		if !ok {
			return ""
		}
		if c, ok := raw.Clusters[kctx.Cluster]; ok {
			return c.Server
		}
		return ""
	}
	if serverOf(current) == server {
		return current
	}
	if name := recorded["context"]; serverOf(name) == server {
		return name
	}
	var reaching []string
	for _, name := range slices.Sorted(maps.Keys(raw.Contexts)) {
		if serverOf(name) == server {
			reaching = append(reaching, name)
		}
	}
	if len(reaching) == 1 {
		return reaching[0]
	}
	return current
}
