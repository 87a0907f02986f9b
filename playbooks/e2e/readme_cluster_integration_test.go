//go:build integration

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/cmd/cairn/cairntest"
)

// TestReadmeClusterExamples runs the README's examples that need a cluster
// (cairntest.Example.NeedsCluster) as cmd/cairn's TestReadmeExamplesRun
// runs the others: with bash and the real binary, HOME the test's own (the
// journal the default one), and the default lock namespace kube-system,
// which only this test uses on this package's control plane. An example
// that needs a cluster and is not run here fails the test.
//
// The README's `cairn run istio-canary-tags --params-file p.yaml` runs for
// real: the real istioctl (CAIRN_ISTIOCTL) against a revision it installed
// (newRealCanaryWorld), to the canary gate. Placeholders and files:
//
//	p.yaml              made by the README's --params-template line, then
//	                    filled in as a person would, with the world's values
//	~/.kube/prod-eu1    the control plane's kubeconfig, copied there
//	$KUBECONFIG         set to the control plane's kubeconfig
//	./my-playbook.yaml  a playbook that labels a namespace of the test
//	RUN                 (journal mirror examples) the older of two runs of
//	                    a playbook with a secret parameter token, a kube
//	                    step and a gate, which the test starts and approves
//	[RUN] left out      resume --from-cluster takes the newest unfinished
//	                    run in the cluster: the newer of the two
//	NEW.db              a new journal file for each line
//	token=...           token= the runs' secret
func TestReadmeClusterExamples(t *testing.T) {
	w := newRealCanaryWorld(t)
	h := w.h
	r := &readmeCluster{w: w, ns: h.env.Namespace(t, nil), secret: "s3cr3t-readme-4d1e"}
	dir := t.TempDir()
	work, home := filepath.Join(dir, "work"), filepath.Join(dir, "home")
	for _, d := range []string{work, filepath.Join(home, ".kube")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := os.ReadFile(h.env.Kubeconfig)
	if err == nil {
		err = os.WriteFile(filepath.Join(home, ".kube", "prod-eu1"), kc, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.removeMirrors() })
	journals := 0
	r.Session = cairntest.Session{Dir: work, Timeout: 10 * time.Minute,
		Env:    []string{"HOME=" + home, "PATH=" + filepath.Dir(cairnBin) + ":" + os.Getenv("PATH"), "KUBECONFIG=" + h.env.Kubeconfig},
		Vars:   []string{"KUBECONFIG"},
		Values: map[string]string{"token=...": "token=" + r.secret},
		Fresh: map[string]func() string{"NEW.db": func() string {
			journals++
			return filepath.Join(dir, fmt.Sprintf("new-%d.db", journals))
		}},
	}
	needsCluster := func(e cairntest.Example) bool { return e.NeedsCluster() }
	r.Run(t, cairntest.ReadmeExamples(t, repoRoot), needsCluster, r.steps())
}

type readmeCluster struct {
	cairntest.Session
	w      *realCanaryWorld
	ns     string // a namespace the test's playbooks label
	secret string
}

// steps: besides the placeholders above, the session's values hold the
// runs' ids under names the README does not use (run:istio, run:mine,
// run:newer) for the checks.
func (r *readmeCluster) steps() []cairntest.Step {
	out := r.Outputs
	return []cairntest.Step{
		{Example: "cairn playbooks show istio-canary-tags --params-template > p.yaml", Check: out(0)},
		{Setup: r.fillParams},
		{Example: "cairn run istio-canary-tags --params-file p.yaml --kubeconfig ~/.kube/prod-eu1", Check: out(0, `run \S+ is waiting for approval`, `canary-ok: test the canary namespace `+r.w.apps[0])},
		{Setup: func(t *testing.T) { r.w.assertAtCanaryGate(); r.Values["run:istio"] = r.newestRun(t) }},
		{Setup: r.writePlaybooks},
		{Example: "cairn run ./my-playbook.yaml --kubeconfig $KUBECONFIG", Check: r.labelled},
		{Setup: r.startMirroredRuns},
		{Example: "cairn runs --cluster", Check: out(0, `(?m)^{RUN}\s+mirrored\s+approved\s`, `(?m)^{run:newer}\s+mirrored\s+approved\s`,
			`(?m)^{run:istio}\s+istio-canary-tags\s+waiting-approval\s`, `(?m)^{run:mine}\s+my-playbook\s+succeeded\s`)},
		{Example: "cairn show --cluster RUN", Check: out(0, `(?m)^run\s+{RUN}$`, `(?m)^status\s+approved$`, `go-ahead\s+approved`)},
		{Example: "cairn journal export --cluster RUN", Check: r.sameExport},
		{Example: "cairn journal verify --cluster [RUN]", Check: r.verified},
		{Example: "cairn resume --from-cluster [RUN] --journal NEW.db -p token=...", Check: r.resumedElsewhere},
	}
}

// fillParams fills in p.yaml with the world the real istioctl installed.
func (r *readmeCluster) fillParams(t *testing.T) {
	path := filepath.Join(r.Dir, "p.yaml")
	tmpl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := r.w
	filled, err := cairntest.FillTemplate(string(tmpl), map[string]string{
		"istioctl": w.istioctl, "istioNamespace": w.istioNS, "oldRev": w.oldRev, "newRev": w.newRev,
		"newVersion": w.version, "gatewayNamespace": w.gwNS, "canaryNamespace": w.apps[0]})
	if err != nil {
		t.Fatalf("p.yaml: %v", err)
	}
	if err := os.WriteFile(path, []byte(filled), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *readmeCluster) newestRun(t *testing.T) string {
	t.Helper()
	res := cairntest.Shell(t, time.Minute, r.Dir, r.Env, "cairn runs -q --limit 1")
	if res.Code != 0 || strings.TrimSpace(res.Stdout) == "" {
		t.Fatalf("runs -q: exit %d %q %s", res.Code, res.Stdout, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

func (r *readmeCluster) writePlaybooks(t *testing.T) {
	books := map[string]string{
		"my-playbook.yaml": `apiVersion: cairn/v1
kind: Playbook
metadata: {name: my-playbook}
steps:
  - id: label
    kube.label: {kind: Namespace, name: ` + r.ns + `, set: {cairn.dev/readme: done}}
`,
		// A secret used before and after the gate, a kube step that binds
		// the run to the cluster (and so mirrors it), and the secret's
		// value written to a file after the gate, for the test to see.
		"mirrored.yaml": `apiVersion: cairn/v1
kind: Playbook
metadata: {name: mirrored}
params:
  token: {type: string, secret: true, required: true}
  out: {type: string, required: true}
steps:
  - id: login
    exec: {argv: [/bin/sh, -c, 'test -n "$0"', "${params.token}"]}
  - id: mark
    kube.label: {kind: Namespace, name: ` + r.ns + `, set: {cairn.dev/mirrored: before-gate}}
  - id: go-ahead
    gate: {message: go on}
  - id: use-token
    exec: {argv: [/bin/sh, -c, 'printf %s "$0" > "$1"', "${params.token}", "${params.out}"]}
`,
	}
	for name, text := range books {
		if err := os.WriteFile(filepath.Join(r.Dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *readmeCluster) labelled(t *testing.T, line string, res cairntest.ShellResult) {
	r.Outputs(0, `run \S+ succeeded`)(t, line, res)
	ns, err := r.w.h.env.Clientset.CoreV1().Namespaces().Get(bg(t), r.ns, metav1.GetOptions{})
	if err != nil || ns.Labels["cairn.dev/readme"] != "done" {
		t.Errorf("%s: namespace %s not labelled (%v)", line, r.ns, err)
	}
	r.Values["run:mine"] = r.newestRun(t)
}

// outFile is where each mirrored run writes its secret after the gate.
var outFile = map[string]string{"RUN": "older.out", "run:newer": "newer.out"}

// startMirroredRuns starts two runs of mirrored.yaml, older then newer,
// each to its gate, and approves both.
func (r *readmeCluster) startMirroredRuns(t *testing.T) {
	for _, name := range []string{"RUN", "run:newer"} {
		out := filepath.Join(r.Dir, outFile[name])
		res := cairntest.Shell(t, time.Minute, r.Dir, r.Env, "cairn run ./mirrored.yaml -p token="+r.secret+" -p out="+out)
		if res.Code != 0 || !strings.Contains(res.Stdout, "waiting for approval") {
			t.Fatalf("run mirrored.yaml: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
		id := r.newestRun(t)
		if res := cairntest.Shell(t, time.Minute, r.Dir, r.Env, "cairn approve "+id+" go-ahead"); res.Code != 0 {
			t.Fatalf("approve: exit %d %s", res.Code, res.Stderr)
		}
		r.Values[name] = id
	}
}

func (r *readmeCluster) sameExport(t *testing.T, line string, res cairntest.ShellResult) {
	r.Outputs(0, `"head":`)(t, line, res)
	local := cairntest.Shell(t, time.Minute, r.Dir, r.Env, "cairn journal export "+r.Values["RUN"])
	if local.Code != 0 || res.Stdout != local.Stdout {
		t.Errorf("%s: the mirror's export differs from the journal's (exit %d):\n%s\nlocal:\n%s", line, local.Code, res.Stdout, local.Stdout)
	}
}

// verified: each run of the journal, or RUN, holds and is the same as its
// mirror.
func (r *readmeCluster) verified(t *testing.T, line string, res cairntest.ShellResult) {
	same := func(name string) string {
		return `(?m)^{` + name + `}: ok \(\d+ events, head [0-9a-f]{64}\)\n  mirror: the same as the cluster's journal mirror \(head seq`
	}
	if strings.HasSuffix(line, "--cluster") {
		r.Outputs(0, same("RUN"), same("run:newer"), same("run:istio"), same("run:mine"))(t, line, res)
		return
	}
	r.Outputs(0, same("RUN"))(t, line, res)
	if strings.Contains(res.Stdout, r.Values["run:newer"]) {
		t.Errorf("%s: verified other runs than RUN:\n%s", line, res.Stdout)
	}
}

// resumedElsewhere: each line imports a run into a new journal and
// finishes it with the secret given again; without RUN it is the newest
// unfinished run in the cluster.
func (r *readmeCluster) resumedElsewhere(t *testing.T, line string, res cairntest.ShellResult) {
	name := "run:newer"
	if strings.Contains(line, r.Values["RUN"]) {
		name = "RUN"
	}
	r.Outputs(0, "imported the run from the cluster's journal mirror", `run {`+name+`} succeeded`)(t, line, res)
	if strings.Contains(res.Stdout+res.Stderr, r.secret) {
		t.Errorf("%s: the secret is in the output", line)
	}
	got, err := os.ReadFile(filepath.Join(r.Dir, outFile[name]))
	if err != nil || string(got) != r.secret {
		t.Errorf("%s: the step after the gate got %q (%v), want the secret given again", line, got, err)
	}
}

// removeMirrors deletes what the runs left in kube-system: their journal
// mirrors and the Lease.
func (r *readmeCluster) removeMirrors() {
	cs := r.w.h.env.Clientset
	c := bg(r.w.h.t)
	if err := cs.CoreV1().ConfigMaps("kube-system").DeleteCollection(c, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "cairn.dev/run"}); err != nil {
		r.w.h.t.Errorf("cleanup: %v", err)
	}
	_ = cs.CoordinationV1().Leases("kube-system").Delete(c, "cairn-lock", metav1.DeleteOptions{})
}
