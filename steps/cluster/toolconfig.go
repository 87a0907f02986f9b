package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ToolKubeconfig is a kubeconfig that selects exactly the connection's
// cluster, for the tools a step runs (istioctl, asmcli, kubectl, bmctl):
// without it they would act on whatever the user's current-context is.
type ToolKubeconfig struct {
	Path    string // the file, mode 0600, in a directory only we can read
	Context string // its current context: the one cairn uses

	dir string
}

// toolDirPrefix names the private directories; the pid that follows lets a
// later cairn remove those a killed process left behind.
const toolDirPrefix = "cairn-kube-"

// WriteToolKubeconfig writes the minified kubeconfig of the connection's
// context (its cluster and user, credentials and exec plugins kept; file
// paths are already absolute, as clientcmd resolves them on load) into a
// new private directory under base (os.TempDir() if empty). Remove removes
// it when the invocation ends. Directories left by processes that no longer
// run are removed first: a SIGKILLed cairn cannot clean up after itself.
func (c *Connection) WriteToolKubeconfig(base string) (*ToolKubeconfig, error) {
	if base == "" {
		base = os.TempDir()
	}
	reapToolDirs(base)
	cfg := *c.Raw.DeepCopy()
	cfg.CurrentContext = c.Context
	if err := clientcmdapi.MinifyConfig(&cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig for tools: %w", err)
	}
	dir, err := os.MkdirTemp(base, toolDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for tools: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("kubeconfig for tools: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	// WriteToFile creates the file 0600.
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("kubeconfig for tools: %w", err)
	}
	return &ToolKubeconfig{Path: path, Context: c.Context, dir: dir}, nil
}

// Remove deletes the file and its directory.
func (t *ToolKubeconfig) Remove() error {
	if t == nil || t.dir == "" {
		return nil
	}
	return os.RemoveAll(t.dir)
}

// reapToolDirs removes tool kubeconfig directories whose process is gone.
// Only directories we own are touched; failures are left for next time.
func reapToolDirs(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	uid := os.Getuid()
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), toolDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(name, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		if fi, err := os.Lstat(dir); err != nil || !ownedBy(fi, uid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

func ownedBy(fi os.FileInfo, uid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}
