package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// EnvIstioctl names the real istioctl binary; `make test` sets it to what
// testdata/istioctl/build.sh built.
const EnvIstioctl = "CAIRN_ISTIOCTL"

var realIstioctl struct {
	once sync.Once
	path string
	err  error
}

// RealIstioctl returns the path of the real istioctl, built from the
// istio.io/istio Go module: $CAIRN_ISTIOCTL if set, else whatever
// testdata/istioctl/build.sh prints (it builds into a cache on first use:
// about 10 minutes of 2 cores, so give go test a -timeout of 30m or more).
// It fails the test if there is no binary and none can be built; it never
// skips.
func RealIstioctl(t testing.TB) string {
	t.Helper()
	realIstioctl.once.Do(func() {
		realIstioctl.path, realIstioctl.err = findRealIstioctl()
	})
	if realIstioctl.err != nil {
		t.Fatalf("kubetest: the real istioctl: %v", realIstioctl.err)
	}
	return realIstioctl.path
}

func findRealIstioctl() (string, error) { return builtTool(EnvIstioctl, "istioctl") }

// builtTool returns $env if set (checked to be an executable file), else the
// path that testdata/NAME/build.sh prints as its last line (it builds into
// a content-addressed cache on first use).
func builtTool(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("$%s=%s: %w (unset it to build one with testdata/%s/build.sh)", env, p, err, name)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("$%s=%s is not an executable file", env, p)
		}
		return p, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate testdata/%s", name)
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "testdata", name, "build.sh")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	p := lines[len(lines)-1]
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s printed %q, which is not a file: %v", script, p, err)
	}
	return p, nil
}

// Network returns the cluster network's name (up.sh's NETWORK, an abstract
// unix socket prefix): a process that plays pod IP:PORT listens on
// NETWORK/pods/IP:PORT, and clusternet connects the API server's calls for
// that pod, or for a Service whose ready endpoint it is, there.
func (e *Env) Network(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.ClusterDir, "network"))
	if err != nil {
		t.Fatalf("kubetest: %v (a cluster started by an up.sh without clusternet?)", err)
	}
	return strings.TrimSpace(string(b))
}
