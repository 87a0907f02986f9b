//go:build integration

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps/kubetest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// binDir holds the doubles, installed once by install.sh for the whole run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fakebins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := exec.Command("./install.sh", dir).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "install.sh %s: %v\n%s", dir, err, out)
		os.Exit(1)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	binDir = lines[len(lines)-1]
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// install runs install.sh for an extra layout in binDir.
func install(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("./install.sh", append([]string{binDir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh %v: %v\n%s", args, err, out)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// cmd describes one invocation of a double.
type cmd struct {
	tool  string   // a name in binDir, or a path
	args  []string //
	env   []string // extra KEY=VALUE
	dir   string   // working directory (default: a temp dir)
	stdin string
}

// invoke runs a double with PATH, KUBECONFIG and CAIRN_FAKEBINS_LOG set.
func invoke(t *testing.T, c cmd) result {
	t.Helper()
	path := c.tool
	if !filepath.IsAbs(path) {
		path = filepath.Join(binDir, c.tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	x := exec.CommandContext(ctx, path, c.args...)
	x.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), envLog+"="+logFile(t))
	x.Env = append(x.Env, c.env...)
	x.Dir = c.dir
	if x.Dir == "" {
		x.Dir = t.TempDir()
	}
	x.Stdin = strings.NewReader(c.stdin)
	var stdout, stderr bytes.Buffer
	x.Stdout, x.Stderr = &stdout, &stderr
	err := x.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s %v: %v", c.tool, c.args, err)
	}
	t.Logf("$ %s %s\n%s", c.tool, strings.Join(c.args, " "), r)
	return r
}

// mustRun runs and fails the test unless the tool exits 0.
func mustRun(t *testing.T, c cmd) result {
	t.Helper()
	r := invoke(t, c)
	if r.code != 0 {
		t.Fatalf("%s %v failed: %s", c.tool, c.args, r)
	}
	return r
}

// logFiles maps tests to their invocation log.
var logFiles = map[string]string{}

func logFile(t *testing.T) string {
	if f, ok := logFiles[t.Name()]; ok {
		return f
	}
	f := filepath.Join(t.TempDir(), "invocations.jsonl")
	logFiles[t.Name()] = f
	return f
}

func bg(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// cleanupRevision uninstalls a revision's cluster-scoped leftovers (webhook
// configurations are cluster-wide) when the test ends.
func cleanupRevision(t *testing.T, env *kubetest.Env, istioNS, rev string) {
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm := env.Clientset.AdmissionregistrationV1()
		sel := metav1.ListOptions{LabelSelector: labelRev + "=" + rev}
		if l, err := adm.MutatingWebhookConfigurations().List(c, sel); err == nil {
			for _, m := range l.Items {
				_ = adm.MutatingWebhookConfigurations().Delete(c, m.Name, metav1.DeleteOptions{})
			}
		}
		if l, err := adm.ValidatingWebhookConfigurations().List(c, sel); err == nil {
			for _, v := range l.Items {
				_ = adm.ValidatingWebhookConfigurations().Delete(c, v.Name, metav1.DeleteOptions{})
			}
		}
		if istioNS == "istio-system" {
			for _, n := range []string{"istiod-" + rev} {
				_ = env.Clientset.AppsV1().Deployments(istioNS).Delete(c, n, metav1.DeleteOptions{})
				_ = env.Clientset.CoreV1().Services(istioNS).Delete(c, n, metav1.DeleteOptions{})
				_ = env.Clientset.AutoscalingV2().HorizontalPodAutoscalers(istioNS).Delete(c, n, metav1.DeleteOptions{})
				_ = env.Clientset.PolicyV1().PodDisruptionBudgets(istioNS).Delete(c, n, metav1.DeleteOptions{})
			}
			_ = env.Dynamic.Resource(iopGVR).Namespace(istioNS).Delete(c, "installed-state-"+rev, metav1.DeleteOptions{})
		}
	})
}

// cleanupWebhook deletes a cluster-scoped webhook configuration at the end.
func cleanupWebhook(t *testing.T, env *kubetest.Env, names ...string) {
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm := env.Clientset.AdmissionregistrationV1()
		for _, n := range names {
			if err := adm.MutatingWebhookConfigurations().Delete(c, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Logf("cleanup: %v", err)
			}
			_ = adm.ValidatingWebhookConfigurations().Delete(c, n, metav1.DeleteOptions{})
		}
	})
}

func wantContains(t *testing.T, what, got string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(got, s) {
			t.Errorf("%s: want %q in:\n%s", what, s, got)
		}
	}
}

// istioctl installs a revision with the istioctl of VERSION (its release
// layout istio-VERSION/bin/istioctl) into istioNS (values.global.istioNamespace:
// install has no namespace flag), minimal profile unless more args say otherwise.
func installRevision(t *testing.T, env *kubetest.Env, version, istioNS, rev string, args ...string) result {
	t.Helper()
	install(t, "istio", version)
	cleanupRevision(t, env, istioNS, rev)
	a := append([]string{"install", "--set", "revision=" + rev, "--set", "values.global.istioNamespace=" + istioNS, "-y"}, args...)
	if len(args) == 0 {
		a = append(a, "--set", "profile=minimal")
	}
	return mustRun(t, cmd{tool: filepath.Join(binDir, "istio-"+version, "bin", "istioctl"), args: a})
}
