//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// syncLog is a process's output that the test may read while it writes.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// realOldVersion is the image tag the old revision is installed with
// (`--set tag=`), so that its proxies differ from those of the new
// revision, which is the real istioctl's own version (1.31-dev).
const realOldVersion = "1.30.2"

// realWorld is a control plane installed by the REAL istioctl (built from
// the istio.io/istio module, kubetest.RealIstioctl) into a namespace of its
// own, with the istiod stand-in playing the istiod pods: injection and
// validation webhooks served on the cluster network, caBundles patched.
type realWorld struct {
	h        *harness
	istioctl string
	version  string // the real istioctl's client version, the new revision's proxy tag
	istioNS  string
	oldRev   string
	newRev   string
}

// newRealWorld installs revision oldRev with the real istioctl, profile
// profile, images tagged realOldVersion.
func newRealWorld(t *testing.T, oldRev, newRev, profile string) *realWorld {
	h := newHarness(t)
	h.install() // fakebins, for the stand-in
	w := &realWorld{h: h, istioctl: kubetest.RealIstioctl(t), oldRev: oldRev, newRev: newRev}
	out := w.real("version", "--remote=false")
	m := regexp.MustCompile(`^client version: (\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("istioctl version --remote=false: %q", out)
	}
	w.version = m[1]
	w.istioNS = h.env.Namespace(t, nil)
	h.startStandin()
	// Registered after the namespace: runs before it is deleted.
	t.Cleanup(w.cleanup)
	// A cluster on 1.24+ has no IstioOperator CRD (istioctl install stopped
	// writing installed-state); the doubles' tests create it.
	w.deleteIstioOperatorCRD()
	w.real("install", "--set", "values.global.istioNamespace="+w.istioNS, "--set", "profile="+profile,
		"--set", "revision="+oldRev, "--set", "tag="+realOldVersion, "-y")
	return w
}

// real runs the real istioctl on the test's cluster with an empty HOME (no
// ~/.istioctl/config.yaml) and returns its stdout; a failure fails the test.
func (w *realWorld) real(args ...string) string {
	t := w.h.t
	t.Helper()
	out, errOut, err := w.realErr(args...)
	if err != nil {
		t.Fatalf("istioctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (w *realWorld) realErr(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.istioctl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+w.h.env.Kubeconfig, "HOME="+w.h.t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// cleanup removes what the real istioctl installed, cluster-scoped objects
// too (tags, validators, CRDs); the namespaces go with the test.
func (w *realWorld) cleanup() {
	if _, errOut, err := w.realErr("uninstall", "--purge", "-y", "-i", w.istioNS); err != nil {
		w.h.t.Errorf("cleanup: istioctl uninstall --purge: %v\n%s", err, errOut)
	}
	c := bg(w.h.t)
	adm := w.h.env.Clientset.AdmissionregistrationV1()
	sel := metav1.ListOptions{LabelSelector: "istio.io/rev"}
	mwcs, err := adm.MutatingWebhookConfigurations().List(c, sel)
	if err == nil {
		for _, m := range mwcs.Items {
			_ = adm.MutatingWebhookConfigurations().Delete(c, m.Name, metav1.DeleteOptions{})
		}
	}
	vwcs, err := adm.ValidatingWebhookConfigurations().List(c, sel)
	if err == nil {
		for _, v := range vwcs.Items {
			_ = adm.ValidatingWebhookConfigurations().Delete(c, v.Name, metav1.DeleteOptions{})
		}
	}
}

func (w *realWorld) deleteIstioOperatorCRD() {
	t := w.h.t
	t.Helper()
	crds := w.h.env.Dynamic.Resource(crdResource)
	err := crds.Delete(bg(t), "istiooperators.install.istio.io", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := crds.Get(bg(t), "istiooperators.install.istio.io", metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		if time.Since(start) > 60*time.Second {
			t.Fatal("CRD istiooperators.install.istio.io not deleted after 60s")
		}
	}
}

// suffix is what istio's charts append to cluster-scoped names outside
// istio-system.
func (w *realWorld) suffix() string { return "-" + w.istioNS }

// startStandin runs `fakebins istiod-standin` until the test ends.
func (h *harness) startStandin() {
	t := h.t
	t.Helper()
	state := filepath.Join(h.dir, "standin.json")
	var log syncLog
	x := exec.Command(filepath.Join(h.bins, "fakebins"), "istiod-standin", "--kubeconfig", h.env.Kubeconfig,
		"--network", h.env.Network(t), "--state", state, "--exit-with-parent")
	x.Stdout, x.Stderr = &log, &log
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- x.Wait() }()
	t.Cleanup(func() {
		_ = x.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = x.Process.Kill()
			t.Errorf("istiod-standin did not exit on SIGTERM")
		}
		if t.Failed() {
			t.Logf("istiod-standin log:\n%s", log.String())
		}
	})
	for start := time.Now(); ; {
		var st struct {
			PID int `json:"pid"`
		}
		if b, err := os.ReadFile(state); err == nil && json.Unmarshal(b, &st) == nil && st.PID == x.Process.Pid {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("istiod-standin exited before it was ready: %v\n%s", err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 45*time.Second {
			t.Fatalf("istiod-standin not ready after 45s:\n%s", log.String())
		}
	}
}
