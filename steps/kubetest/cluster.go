package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Cluster is a control plane of its own, started by testdata/kubecluster/up.sh
// in a fresh directory. Tests that need cluster-wide names which real tools
// fix (istio-system, the "default" revision tag, asm-managed-rapid) run on
// one, so that no other package's test can see or disturb them.
type Cluster struct {
	Dir        string // up.sh state dir; CAIRN_CLUSTER_DIR for New
	Kubeconfig string
	scripts    string
}

// StartCluster starts a cluster with the cached control-plane binaries
// (build.sh builds them once). Stop it with Stop; it is not tied to a test,
// so that a TestMain can give a whole package a cluster.
func StartCluster() (*Cluster, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("kubetest: cannot locate testdata/kubecluster")
	}
	scripts := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "kubecluster")
	dir, err := os.MkdirTemp("", "cairn-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), scripts: scripts}
	if out, err := exec.Command(filepath.Join(scripts, "up.sh"), dir).CombinedOutput(); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("kubetest: starting a cluster in %s: %v\n%s", dir, err, out)
	}
	return c, nil
}

// Stop stops the cluster's processes and removes its directory.
func (c *Cluster) Stop() error {
	out, err := exec.Command(filepath.Join(c.scripts, "down.sh"), c.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubetest: down.sh %s: %v\n%s", c.Dir, err, out)
	}
	return os.RemoveAll(c.Dir)
}

// Use points New (in this process and in the processes it starts) at the
// cluster, through CAIRN_CLUSTER_DIR and KUBECONFIG.
func (c *Cluster) Use() error {
	if err := os.Setenv(EnvClusterDir, c.Dir); err != nil {
		return err
	}
	return os.Setenv(EnvKubeconfig, c.Kubeconfig)
}
