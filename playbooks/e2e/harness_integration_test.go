//go:build integration

// Package e2e runs the upgrade playbooks end to end: the real cairn binary,
// the fakebins doubles (istioctl, asmcli...) and the fakebins sidecar
// injector, against the local test cluster (testdata/kubecluster/up.sh).
//
// The package starts a control plane of its own (TestMain), because the
// doubles, like the real tools, use cluster-wide names (istio-system, the
// "default" tag, asm-managed-rapid). Its tests run serially and each one
// removes the cluster-scoped objects it made.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/cmd/cairn/cairntest"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

var cairnBin, repoRoot string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	// The doubles install into istio-system and use the tag "default" and
	// asm-managed-rapid as the real tools do: this package gets a control
	// plane of its own, so no other package's test meets those names.
	cluster, err := kubetest.StartCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if err := cluster.Use(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "cairn-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if cairnBin, repoRoot, err = cairntest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// harness is one test's world: cluster env, fakebins dir, journal, lock ns.
type harness struct {
	t       *testing.T
	env     *kubetest.Env
	dir     string // temp dir: journal, fakebins, invocation log
	bins    string // fakebins install dir
	journal string
	lockNS  string
	fakeLog string
	// kubeconfig, if set, is cairn's KUBECONFIG instead of the cluster's
	// own (a run bound to another context of the same cluster).
	kubeconfig string
}

func newHarness(t *testing.T) *harness {
	env := kubetest.New(t)
	// Registered first, so it runs last: after the namespaces' cleanups
	// have deleted them. Playbooks check every pod of the cluster (no pod
	// Terminating), so the next test must not meet this one's leftovers.
	t.Cleanup(func() { waitNoTerminatingPods(t, env) })
	dir := t.TempDir()
	h := &harness{t: t, env: env, dir: dir, journal: filepath.Join(dir, "journal.db"),
		lockNS: env.Namespace(t, nil), fakeLog: filepath.Join(dir, "fakebins.log")}
	return h
}

// install runs testdata/bin/install.sh DIR ARGS... and returns DIR.
func (h *harness) install(args ...string) string {
	h.t.Helper()
	if h.bins == "" {
		h.bins = filepath.Join(h.dir, "bin")
	}
	cmd := exec.Command(filepath.Join(repoRoot, "testdata/bin/install.sh"), append([]string{h.bins}, args...)...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		h.t.Fatalf("install.sh %v: %v\n%s", args, err, out)
	}
	return h.bins
}

// startInjector runs the fakebins sidecar injector until the test ends.
func (h *harness) startInjector() {
	h.t.Helper()
	state := filepath.Join(h.dir, "injector.json")
	inj := exec.Command(filepath.Join(h.bins, "fakebins"), "injector",
		"--kubeconfig", h.env.Kubeconfig, "--state", state,
		"--name", kubetest.UniqueName("cairn-e2e-sidecar-injector", 60), "--exit-with-parent")
	var stderr bytes.Buffer
	inj.Stderr = &stderr
	if err := inj.Start(); err != nil {
		h.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- inj.Wait() }()
	h.t.Cleanup(func() {
		_ = inj.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = inj.Process.Kill()
		}
	})
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(state); err == nil {
			return
		}
		select {
		case err := <-exited:
			h.t.Fatalf("injector exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Since(start) > 45*time.Second {
			h.t.Fatal("injector not ready")
		}
	}
}

// tool runs a fakebins tool (path relative to bins) and fails the test on error.
func (h *harness) tool(rel string, args ...string) string {
	h.t.Helper()
	out, err := h.toolErr(rel, args...)
	if err != nil {
		h.t.Fatalf("%s %v: %v\n%s", rel, args, err, out)
	}
	return out
}

func (h *harness) toolErr(rel string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(h.bins, rel), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.env.Kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type result struct {
	code           int
	stdout, stderr string
}

// command is the binary with the test's journal, lock namespace,
// kubeconfig and doubles' log. extraEnv is added to the environment.
func (h *harness) command(extraEnv []string, args ...string) *exec.Cmd {
	switch args[0] {
	case "run", "resume", "rollback":
		args = append(args, "--lock-namespace", h.lockNS)
	}
	full := append([]string{"--journal", h.journal}, args...)
	cmd := exec.Command(cairnBin, full...)
	kubeconfig := h.env.Kubeconfig
	if h.kubeconfig != "" {
		kubeconfig = h.kubeconfig
	}
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "CAIRN_FAKEBINS_LOG="+h.fakeLog)
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// cairn runs the binary to its end. extraEnv is added to the environment.
func (h *harness) cairn(extraEnv []string, args ...string) result {
	h.t.Helper()
	cmd := h.command(extraEnv, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			h.t.Fatalf("cairn %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustCairn runs cairn and fails unless it exits with code.
func (h *harness) mustCairn(code int, args ...string) result {
	h.t.Helper()
	r := h.cairn(nil, args...)
	if r.code != code {
		h.t.Fatalf("cairn %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, code, r.stdout, r.stderr)
	}
	return r
}

var runIDPattern = regexp.MustCompile(`(?m)\b(\d{8}-\d{6}-[0-9a-f]+)\b`)

func runIDOf(t *testing.T, r result) string {
	t.Helper()
	m := runIDPattern.FindStringSubmatch(r.stdout + "\n" + r.stderr)
	if m == nil {
		t.Fatalf("no run id in output:\n%s\n%s", r.stdout, r.stderr)
	}
	return m[1]
}

func bg(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// proxyTags returns pod name -> istio-proxy image tag for the running,
// non-terminating pods of a namespace.
func (h *harness) proxyTags(ns string) map[string]string {
	h.t.Helper()
	pods, err := h.env.Clientset.CoreV1().Pods(ns).List(bg(h.t), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	tags := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Spec.Containers {
			if c.Name == "istio-proxy" {
				tags[p.Name] = c.Image[strings.LastIndex(c.Image, ":")+1:]
			}
		}
	}
	return tags
}

// waitProxyTags waits until every pod of ns runs istio-proxy with tag.
func (h *harness) waitProxyTags(ns, tag string, timeout time.Duration) {
	h.t.Helper()
	var tags map[string]string
	for start := time.Now(); time.Since(start) < timeout; time.Sleep(250 * time.Millisecond) {
		tags = h.proxyTags(ns)
		ok := len(tags) > 0
		for _, v := range tags {
			ok = ok && v == tag
		}
		if ok {
			return
		}
	}
	h.t.Fatalf("namespace %s: istio-proxy tags %v, want all %s", ns, tags, tag)
}

// replicaSets counts the ReplicaSets of every Deployment in ns.
func (h *harness) replicaSets(ns string) map[string]int {
	h.t.Helper()
	rss, err := h.env.Clientset.AppsV1().ReplicaSets(ns).List(bg(h.t), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	n := map[string]int{}
	for _, rs := range rss.Items {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" {
				n[o.Name]++
			}
		}
	}
	return n
}

// fakeCalls counts the logged invocations whose argv contains all of parts.
func (h *harness) fakeCalls(parts ...string) int {
	h.t.Helper()
	data, err := os.ReadFile(h.fakeLog)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, fmt.Sprintf("%q", p))
		}
		if ok {
			n++
		}
	}
	return n
}

// lastRun is the newest run of the journal.
func (h *harness) lastRun() string {
	h.t.Helper()
	r := h.mustCairn(0, "runs", "-q")
	ids := strings.Fields(r.stdout)
	if len(ids) == 0 {
		h.t.Fatalf("no runs in the journal")
	}
	return ids[0]
}

// events exports a run's journal events.
func (h *harness) events(run string) []map[string]any {
	h.t.Helper()
	r := h.mustCairn(0, "journal", "export", run)
	var evs []map[string]any
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			h.t.Fatalf("journal export line %q: %v", line, err)
		}
		if inner, ok := ev["event"].(map[string]any); ok {
			ev = inner // export wraps each event: {"event": {...}, ...}
		}
		if _, ok := ev["head"]; ok {
			continue // the run's head, after its events
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitNoTerminatingPods waits until no pod of the cluster is being deleted.
func waitNoTerminatingPods(t *testing.T, env *kubetest.Env) {
	var left []string
	for start := time.Now(); time.Since(start) < 90*time.Second; time.Sleep(200 * time.Millisecond) {
		pods, err := env.Clientset.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			continue
		}
		left = left[:0]
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				left = append(left, p.Namespace+"/"+p.Name)
			}
		}
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("pods still terminating 90s after the test: %v", left)
}
