package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// benchMirror measures what the journal mirror in the cluster costs: the
// same runs with and without --no-mirror, in interleaved rounds, and the
// API writes it makes; then how soon resume --from-cluster acts on a run
// of 1,000 events imported into an empty journal.
func benchMirror() {
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubecfg)
	must(err)
	cfg.QPS, cfg.Burst = 200, 400
	restCfg = cfg
	cs = kubernetes.NewForConfigOrDie(cfg)
	dir, err := os.MkdirTemp(*outDir, "mirror-")
	must(err)
	defer os.RemoveAll(dir)

	// 1,000 assert steps, bound to the cluster by --kubeconfig.
	pb := filepath.Join(dir, "noop.yaml")
	must(os.WriteFile(pb, []byte(assertPlaybook("noop", *steps, "")), 0o644))
	const rounds = 5
	var with, without []time.Duration
	var writes float64
	for r := 0; r < rounds; r++ {
		for _, mirror := range []bool{r%2 == 0, r%2 != 0} {
			args := []string{"--journal", filepath.Join(dir, fmt.Sprintf("j-%d-%t.db", r, mirror)), "--log-format", "json", "run", pb, "--kubeconfig", *kubecfg}
			if !mirror {
				args = append(args, "--no-mirror")
			}
			before := apiRequests()
			d, _, out, err := cairnCmd(nil, args...)
			if err != nil {
				panic(fmt.Sprintf("cairn run noop (mirror %t): %v\n%s", mirror, err, tailOf(out)))
			}
			after := apiRequests()
			if mirror {
				with = append(with, d)
				writes += cmWrites(after) - cmWrites(before)
			} else {
				without = append(without, d)
			}
		}
	}
	ratio := median(with).Seconds() / median(without).Seconds()
	add(Row{Section: "mirror", Name: fmt.Sprintf("%d assert steps, mirrored / --no-mirror (median of %d)", *steps, rounds), Value: ratio, Unit: "×",
		Target: "≤ 1.3×", Met: met(ratio <= 1.3),
		Note: fmt.Sprintf("%.2f s against %.2f s; %.3f ConfigMap writes per step (create/update/patch, cluster-wide)",
			median(with).Seconds(), median(without).Seconds(), writes/rounds/float64(*steps))})

	// The 50-namespace rollout at maxParallel 16, with and without.
	var rw, rwo []time.Duration
	runID := time.Now().Unix() % 100000
	for r := 0; r < 2; r++ {
		for _, mirror := range []bool{r%2 == 0, r%2 != 0} {
			nss := make([]string, *nsCount)
			for i := range nss {
				nss[i] = fmt.Sprintf("bench-m%d%t-%d-%02d", r, mirror, runID, i)
			}
			setup(nss, "m")
			var rss int64
			var extra []string
			if !mirror {
				extra = []string{"--no-mirror"}
			}
			start := time.Now()
			err := runCairn(nss, 16, &rss, extra...)
			d := time.Since(start)
			go cleanup(nss)
			must(err)
			if mirror {
				rw = append(rw, d)
			} else {
				rwo = append(rwo, d)
			}
		}
	}
	ratio = minOf(rw).Seconds() / minOf(rwo).Seconds()
	add(Row{Section: "mirror", Name: fmt.Sprintf("rollout of %d namespaces, maxParallel 16, mirrored / --no-mirror", *nsCount), Value: ratio, Unit: "×",
		Target: "≤ 1.05×", Met: met(ratio <= 1.05),
		Note: fmt.Sprintf("%.1f s against %.1f s (2 rounds each, interleaved; the shorter of each)", minOf(rw).Seconds(), minOf(rwo).Seconds())})

	benchFromCluster(dir)
}

// benchFromCluster: a run of ~1,000 events that stops at a gate, approved,
// then resumed with --from-cluster into an empty journal; the first step
// after the gate writes the time it started.
func benchFromCluster(dir string) {
	stamp := filepath.Join(dir, "first-action")
	pb := filepath.Join(dir, "gated.yaml")
	must(os.WriteFile(pb, []byte(assertPlaybook("gated", 499, stamp)), 0o644))
	j1 := filepath.Join(dir, "from-1.db")
	_, _, out, err := cairnCmd(nil, "--journal", j1, "--log-format", "json", "run", pb, "--kubeconfig", *kubecfg)
	if err != nil {
		panic(fmt.Sprintf("cairn run gated: %v\n%s", err, tailOf(out)))
	}
	id := lastRunID(j1)
	if _, _, out, err := cairnCmd(nil, "--journal", j1, "approve", id, "go", "--kubeconfig", *kubecfg); err != nil {
		panic(fmt.Sprintf("cairn approve: %v\n%s", err, tailOf(out)))
	}
	start := time.Now()
	_, _, out, err = cairnCmd(nil, "--journal", filepath.Join(dir, "from-2.db"), "--log-format", "json", "resume", "--from-cluster", id, "--kubeconfig", *kubecfg)
	if err != nil {
		panic(fmt.Sprintf("cairn resume --from-cluster: %v\n%s", err, tailOf(out)))
	}
	raw, err := os.ReadFile(stamp)
	must(err)
	ns, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	must(err)
	first := time.Unix(0, ns).Sub(start)
	add(Row{Section: "mirror", Name: "resume --from-cluster of a run of ~1,000 events into an empty journal: start to first action", Value: first.Seconds(), Unit: "s",
		Target: "< 1 s", Met: met(first < time.Second), Note: "import, chain check, lease, then the first step after the gate"})
}

// assertPlaybook is n assert steps; with stamp, a gate and then an exec
// step that writes the nanosecond it ran to stamp.
func assertPlaybook(name string, n int, stamp string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: cairn/v1\nkind: Playbook\nmetadata:\n  name: %s\nsteps:\n", name)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - id: s%d\n    assert: {that: \"x\", equals: \"x\"}\n", i)
	}
	if stamp != "" {
		fmt.Fprintf(&b, "  - id: go\n    gate: {message: go on}\n  - id: first\n    exec: {argv: [/bin/sh, -c, 'date +%%s%%N > \"$1\"', sh, %q]}\n", stamp)
	}
	return b.String()
}

func cmWrites(m map[string]float64) float64 {
	return m["configmaps/POST"] + m["configmaps/PUT"] + m["configmaps/PATCH"] + m["configmaps/APPLY"]
}

func minOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds[1:] {
		m = min(m, d)
	}
	return m
}

func lastRunID(journal string) string {
	_, _, out, err := cairnCmd(nil, "--journal", journal, "runs", "-q", "--limit", "1")
	must(err)
	return strings.TrimSpace(string(out))
}
