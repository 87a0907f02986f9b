package kubetest

import (
	"sync"
	"testing"
)

// EnvKubectl names the real kubectl binary; `make test` sets it to what
// testdata/kubectl/build.sh built.
const EnvKubectl = "CAIRN_KUBECTL"

var realKubectl struct {
	once sync.Once
	path string
	err  error
}

// Kubectl returns the path of the real kubectl, built from the
// k8s.io/kubectl Go module at the control plane's release: $CAIRN_KUBECTL if
// set, else whatever testdata/kubectl/build.sh prints (it builds into a
// cache on first use: a few minutes of 2 cores on a cold Go build cache).
// It fails the test if there is no binary and none can be built; it never
// skips, and it never falls back to a kubectl found on PATH, whose version
// and origin the test could not know.
func Kubectl(t testing.TB) string {
	t.Helper()
	realKubectl.once.Do(func() {
		realKubectl.path, realKubectl.err = builtTool(EnvKubectl, "kubectl")
	})
	if realKubectl.err != nil {
		t.Fatalf("kubetest: the real kubectl: %v", realKubectl.err)
	}
	return realKubectl.path
}
