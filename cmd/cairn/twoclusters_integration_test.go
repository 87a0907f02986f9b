//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/cairn-dev/cairn/steps/kubetest"
)

// twoClustersBook runs plain kubectl, with no --context or --kubeconfig:
// which cluster it changes is decided by the KUBECONFIG cairn hands it.
// "second" creates its ConfigMap and then holds until the flag file exists,
// so that cairn can be killed while that step runs.
const twoClustersBook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: two-clusters}
params:
  ns: {type: string, required: true}
  name: {type: string, required: true}
  flag: {type: string, required: true}
steps:
  - id: first
    exec: {argv: [kubectl, create, configmap, "${params.name}-first", -n, "${params.ns}", --from-literal=step=first]}
    check: {exec: {argv: [kubectl, get, configmap, "${params.name}-first", -n, "${params.ns}"]}}
    undo: {exec: {argv: [kubectl, delete, configmap, "${params.name}-first", -n, "${params.ns}"]}}
  - id: ok
    gate: {message: "go on to the second ConfigMap?"}
  - id: second
    exec:
      argv: [sh, -c, 'kubectl create configmap "$1-second" -n "$2" --from-literal=step=second && while [ ! -e "$3" ]; do sleep 0.1; done',
             sh, "${params.name}", "${params.ns}", "${params.flag}"]
    check: {exec: {argv: [kubectl, get, configmap, "${params.name}-second", -n, "${params.ns}"]}}
    undo: {exec: {argv: [kubectl, delete, configmap, "${params.name}-second", -n, "${params.ns}"]}}
  - id: third
    exec: {argv: [kubectl, create, configmap, "${params.name}-third", -n, "${params.ns}", --from-literal=step=third]}
    check: {exec: {argv: [kubectl, get, configmap, "${params.name}-third", -n, "${params.ns}"]}}
    undo: {exec: {argv: [kubectl, delete, configmap, "${params.name}-third", -n, "${params.ns}"]}}
`

// twoClusters is the shared test cluster A and a control plane B of the
// test's own, reached through one kubeconfig whose current context is a.
type twoClusters struct {
	k         *kubeRun
	a, b      kubernetes.Interface
	bServer   string
	merged    string // contexts a and b, current-context a
	kubectl   string // the real kubectl's directory, first on cairn's PATH
	toolBase  string // cairn's TMPDIR: where it writes the tools' kubeconfig
	kubeCache string // kubectl's discovery cache, kept out of $HOME
}

func newTwoClusters(t *testing.T) *twoClusters {
	t.Helper()
	k := newKubeRun(t)
	kubectl := kubetest.Kubectl(t)
	bKubeconfig := secondCluster(t)
	bCfg, err := clientcmd.BuildConfigFromFlags("", bKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kubernetes.NewForConfig(bCfg)
	if err != nil {
		t.Fatal(err)
	}
	// The test's namespace exists in both, so that a kubectl sent to the
	// wrong cluster would succeed there and the test would see it.
	if _, err := b.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: k.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tc := &twoClusters{k: k, a: k.env.Clientset, b: b, bServer: bCfg.Host, kubectl: filepath.Dir(kubectl), toolBase: t.TempDir(), kubeCache: t.TempDir()}
	tc.merged = mergedKubeconfig(t, map[string]string{"a": k.env.Kubeconfig, "b": bKubeconfig}, "a")

	// The premise: a kubectl given only the merged kubeconfig acts on A.
	out, err := exec.Command(kubectl, "--kubeconfig", tc.merged, "config", "current-context").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "a" {
		t.Fatalf("kubectl config current-context of the merged kubeconfig: %v %s", err, out)
	}
	return tc
}

// mergedKubeconfig writes one kubeconfig holding each file's current
// context under the given name, with its cluster and user renamed to match
// (up.sh names them alike in every cluster).
func mergedKubeconfig(t *testing.T, files map[string]string, current string) string {
	t.Helper()
	merged := clientcmdapi.NewConfig()
	for name, file := range files {
		cfg, err := clientcmd.LoadFromFile(file)
		if err != nil {
			t.Fatal(err)
		}
		kctx := cfg.Contexts[cfg.CurrentContext]
		merged.Clusters["cluster-"+name] = cfg.Clusters[kctx.Cluster]
		merged.AuthInfos["admin-"+name] = cfg.AuthInfos[kctx.AuthInfo]
		merged.Contexts[name] = &clientcmdapi.Context{Cluster: "cluster-" + name, AuthInfo: "admin-" + name}
	}
	merged.CurrentContext = current
	path := filepath.Join(t.TempDir(), "merged-kubeconfig")
	if err := clientcmd.WriteToFile(*merged, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// command runs cairn as an operator whose KUBECONFIG is the merged file
// (current context a) and whose PATH finds the real kubectl first. The
// developer's kuberc (aliases, default flags) is off for that kubectl.
func (tc *twoClusters) command(args ...string) *exec.Cmd {
	cmd := tc.k.command(tc.k.journal, tc.k.withLock(args)...)
	cmd.Env = append(cmd.Env, "KUBECONFIG="+tc.merged, "PATH="+tc.kubectl+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TMPDIR="+tc.toolBase, "KUBECACHEDIR="+tc.kubeCache, "KUBERC=off")
	return cmd
}

func (tc *twoClusters) cairn(args ...string) cliResult {
	tc.k.t.Helper()
	var out, errb strings.Builder
	cmd := tc.command(args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return cliResult{exitOf(tc.k.t, err), out.String(), errb.String()}
}

// toolDirs lists the tools' kubeconfig directories cairn left in its TMPDIR.
func (tc *twoClusters) toolDirs() []string {
	tc.k.t.Helper()
	dirs, err := filepath.Glob(filepath.Join(tc.toolBase, "cairn-kube-*"))
	if err != nil {
		tc.k.t.Fatal(err)
	}
	return dirs
}

func (tc *twoClusters) wantNoToolDirs(after string) {
	tc.k.t.Helper()
	if dirs := tc.toolDirs(); len(dirs) != 0 {
		tc.k.t.Fatalf("after %s, the tools' kubeconfig is still there: %v", after, dirs)
	}
}

// wantToolKubeconfig checks the kubeconfig of the running cairn (pid):
// private, and naming B's cluster only, through context b.
func (tc *twoClusters) wantToolKubeconfig(pid int) {
	t := tc.k.t
	t.Helper()
	dirs := tc.toolDirs()
	if len(dirs) != 1 || !strings.HasPrefix(filepath.Base(dirs[0]), fmt.Sprintf("cairn-kube-%d-", pid)) {
		t.Fatalf("want one tools' kubeconfig directory of pid %d, found %v", pid, dirs)
	}
	path := filepath.Join(dirs[0], "kubeconfig")
	for p, mode := range map[string]os.FileMode{dirs[0]: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Fatalf("%s has mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "b" || len(cfg.Contexts) != 1 || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 {
		t.Fatalf("the tools' kubeconfig is not minified to context b: current %q, %d contexts, %d clusters, %d users",
			cfg.CurrentContext, len(cfg.Contexts), len(cfg.Clusters), len(cfg.AuthInfos))
	}
	if got := cfg.Clusters[cfg.Contexts["b"].Cluster].Server; got != tc.bServer {
		t.Fatalf("the tools' kubeconfig names server %s, want B's %s", got, tc.bServer)
	}
}

// configMap returns the ConfigMap, or nil if there is none.
func configMap(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := c.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// waitConfigMap watches for the ConfigMap to exist (list+watch, so its
// creation cannot slip between polls).
func waitConfigMap(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	api := c.CoreV1().ConfigMaps(ns)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return api.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return api.Watch(ctx, o)
		},
	}
	ev, err := watchtools.UntilWithSync(ctx, lw, &corev1.ConfigMap{}, nil, func(ev watch.Event) (bool, error) {
		return ev.Type != watch.Deleted, nil
	})
	if err != nil {
		t.Fatalf("ConfigMap %s/%s never appeared: %v", ns, name, err)
	}
	return ev.Object.(*corev1.ConfigMap)
}

// instanceCounts counts, per step, the journaled starts of a run's
// instances and the instances its checks found done.
func (tc *twoClusters) instanceCounts(run string) (started, checked map[string]int) {
	tc.k.t.Helper()
	r := tc.cairn("show", run, "-o", "json")
	want(tc.k.t, r, ExitOK)
	var v struct {
		Events []struct{ Type, Step string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		tc.k.t.Fatalf("show -o json: %v\n%s", err, r.stdout)
	}
	started, checked = map[string]int{}, map[string]int{}
	for _, ev := range v.Events {
		switch ev.Type {
		case "instance.started":
			started[ev.Step]++
		case "instance.checked":
			checked[ev.Step]++
		}
	}
	return started, checked
}

// Issue 10: with one kubeconfig whose current context is A, `cairn run
// --context b` of a playbook whose exec steps run plain kubectl changes B
// and never A: in the run, in a resume after cairn was SIGKILLed in the
// middle of a step (resume is not told the context: it binds to the run's
// cluster), and in the rollback, which must not delete A's same-named
// ConfigMaps. Nothing runs twice, and the private kubeconfig cairn hands the
// tools is 0600 and gone once cairn has exited.
func TestExecKubectlActsOnTheRunsContextOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second control plane")
	}
	tc := newTwoClusters(t)
	k := tc.k
	ns, name, flag := k.ns, kubetest.UniqueName("cm", 40), filepath.Join(k.dir, "flag")
	pb := k.playbook("two-clusters", twoClustersBook)
	names := []string{name + "-first", name + "-second", name + "-third"}
	inA := func(cm string) {
		t.Helper()
		if got := configMap(t, tc.a, ns, cm); got != nil {
			t.Fatalf("ConfigMap %s/%s was created in A (data %v): kubectl acted on the current context, not the run's", ns, cm, got.Data)
		}
	}

	// Run: the first step's kubectl creates in B; the gate stops the run.
	r := tc.cairn("run", pb, "--kubeconfig", tc.merged, "--context", "b", "-p", "ns="+ns, "-p", "name="+name, "-p", "flag="+flag)
	want(t, r, ExitOK, "waiting for approval")
	run := runIDOf(t, r)
	inA(names[0])
	first := configMap(t, tc.b, ns, names[0])
	if first == nil || first.Data["step"] != "first" {
		t.Fatalf("ConfigMap %s/%s is not in B after the run: %+v\n%s", ns, names[0], first, r.stderr)
	}
	tc.wantNoToolDirs("run")
	want(t, tc.cairn("approve", run, "ok"), ExitOK)

	// Resume, without --context, is SIGKILLed while "second" runs, after
	// its kubectl created the ConfigMap.
	p := startProc(t, tc.command("resume", run))
	p.waitStarted("second")
	second := waitConfigMap(t, tc.b, ns, names[1])
	tc.wantToolKubeconfig(p.cmd.Process.Pid)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if !killedBySignal(p.err) {
		t.Fatalf("resume was not killed by SIGKILL: %v\n%s", p.err, p.stderrText())
	}
	inA(names[1])

	// Resume again: "second" is found done by its check (kubectl get, in
	// B) instead of running again, and "third" runs in B.
	release(t, flag)
	want(t, tc.cairn("resume"), ExitOK, "succeeded")
	tc.wantNoToolDirs("resume") // also the killed process's
	for i, was := range []*corev1.ConfigMap{first, second} {
		if now := configMap(t, tc.b, ns, names[i]); now == nil || now.UID != was.UID {
			t.Fatalf("ConfigMap %s/%s in B was recreated or removed by resume: %+v, was %s", ns, names[i], now, was.UID)
		}
	}
	if third := configMap(t, tc.b, ns, names[2]); third == nil || third.Data["step"] != "third" {
		t.Fatalf("ConfigMap %s/%s is not in B after resume: %+v", ns, names[2], third)
	}
	for _, cm := range names {
		inA(cm)
	}
	started, checked := tc.instanceCounts(run)
	for _, s := range []string{"first", "second", "third"} {
		if started[s] != 1 {
			t.Fatalf("step %s started %d times, want once (started %v, checked %v)", s, started[s], started, checked)
		}
	}
	if checked["second"] != 1 {
		t.Fatalf("the killed step was not found done by its check: checked %v", checked)
	}

	// Rollback, without --context: the undos' kubectl deletes in B, and A's
	// ConfigMaps of the same names stay as they are.
	decoys := map[string]*corev1.ConfigMap{}
	for _, cm := range names {
		d, err := tc.a.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: cm}, Data: map[string]string{"owner": "not cairn"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		decoys[cm] = d
	}
	want(t, tc.cairn("rollback", run), ExitOK)
	tc.wantNoToolDirs("rollback")
	for _, cm := range names {
		if got := configMap(t, tc.b, ns, cm); got != nil {
			t.Fatalf("rollback left ConfigMap %s/%s in B", ns, cm)
		}
		got := configMap(t, tc.a, ns, cm)
		if got == nil || got.UID != decoys[cm].UID || got.ResourceVersion != decoys[cm].ResourceVersion {
			t.Fatalf("rollback touched A's ConfigMap %s/%s: %+v, was %+v", ns, cm, got, decoys[cm])
		}
	}
}
