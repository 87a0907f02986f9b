package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const rev = "asm-1-21"

var (
	cs       *kubernetes.Clientset
	restCfg  *rest.Config
	floorReq atomic.Int64
)

type countingRT struct{ rt http.RoundTripper }

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	floorReq.Add(1)
	return c.rt.RoundTrip(r)
}

type contender struct {
	key, name string
	n         int
	run       func(nss []string) error
	rss       *int64
}

func benchRollout() {
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubecfg)
	must(err)
	cfg.QPS, cfg.Burst = 200, 400
	restCfg = cfg
	cs = kubernetes.NewForConfigOrDie(cfg)

	var rss1, rss16 int64
	cons := []contender{
		{key: "c", name: "(c) floor: client-go, patch all at once, one watch", n: *nsCount, run: runFloor},
		{key: "d16", name: "(d) cairn, maxParallel 16", n: *nsCount, run: func(n []string) error { return runCairn(n, 16, &rss16) }, rss: &rss16},
		{key: "d1", name: "(d) cairn, maxParallel 1", n: *nsCount, run: func(n []string) error { return runCairn(n, 1, &rss1) }, rss: &rss1},
		{key: "a", name: "(a) kubectl label/rollout restart/rollout status, per namespace", n: *nsCount, run: runKubectl},
	}
	ansibleNote := ""
	if *ansibleN > 0 {
		if _, err := exec.LookPath("ansible-playbook"); err != nil {
			ansibleNote = "skipped: ansible-playbook not installed"
		} else {
			cons = append(cons,
				contender{key: "b1", name: "(b) Ansible kubernetes.core.k8s, wait_sleep 1", n: *ansibleN, run: func(n []string) error { return runAnsible(n, 1) }},
				contender{key: "b5", name: "(b) Ansible kubernetes.core.k8s, default wait_sleep (5s)", n: *ansibleN, run: func(n []string) error { return runAnsible(n, 0) }})
		}
	} else {
		ansibleNote = "skipped: -ansible-n 0"
	}

	type result struct {
		wall     time.Duration
		n        int
		waitReqs float64
		allReqs  float64
	}
	got := map[string]result{}
	run := time.Now().Unix() % 100000
	for _, c := range cons {
		nss := make([]string, c.n)
		for i := range nss {
			nss[i] = fmt.Sprintf("bench-%s-%d-%02d", c.key, run, i)
		}
		setup(nss, c.key)
		before := apiRequests()
		floorReq.Store(0)
		start := time.Now()
		err := c.run(nss)
		wall := time.Since(start)
		after := apiRequests()
		go cleanup(nss)
		if err != nil {
			add(Row{Section: "rollout", Name: c.name, Note: "skipped: " + firstLine(err.Error())})
			continue
		}
		deps := float64(2 * c.n)
		r := result{wall: wall, n: c.n,
			waitReqs: (after["deployments/GET"] + after["deployments/LIST"] + after["deployments/WATCH"] -
				before["deployments/GET"] - before["deployments/LIST"] - before["deployments/WATCH"]) / deps,
			allReqs: after["total"] - before["total"]}
		got[c.key] = r
		pods := float64(4 * c.n)
		note := fmt.Sprintf("N=%d namespaces, %.0f pods; %.0f pods/min; %.2f deployment GET/LIST/WATCH per Deployment wait; %.0f API requests in all (cluster-wide)",
			c.n, pods, pods/wall.Minutes(), r.waitReqs, r.allReqs)
		if c.key == "c" {
			note += fmt.Sprintf("; %d requests by the floor itself", floorReq.Load())
		}
		if c.rss != nil {
			note += fmt.Sprintf("; cairn peak RSS %d MiB", *c.rss/1024)
		}
		if c.n != *nsCount {
			note += fmt.Sprintf("; smaller N: at N=%d it would take over the time budget", *nsCount)
		}
		add(Row{Section: "rollout", Name: c.name + ": wall time", Value: wall.Seconds(), Unit: "s", Note: note})
	}
	if ansibleNote != "" {
		add(Row{Section: "rollout", Name: "(b) Ansible kubernetes.core.k8s", Note: ansibleNote})
	}
	perNS := func(k string) (float64, bool) {
		r, ok := got[k]
		if !ok {
			return 0, false
		}
		return r.wall.Seconds() / float64(r.n), true
	}
	a, okA := perNS("a")
	c, okC := perNS("c")
	for _, k := range []string{"d16", "d1", "b1", "b5", "a"} {
		v, ok := perNS(k)
		if !ok {
			continue
		}
		if okC {
			r := Row{Section: "rollout", Name: k + " / floor (c), wall time per namespace", Value: v / c, Unit: "×"}
			if k == "d16" {
				r.Target, r.Met = "≤ 1.3×", met(v/c <= 1.3)
			}
			add(r)
		}
		if okA && k != "a" {
			r := Row{Section: "rollout", Name: k + " / kubectl (a), wall time per namespace", Value: v / a, Unit: "×"}
			if k == "d16" {
				r.Target, r.Met = "≤ 0.5× (≥ 2× faster)", met(v/a <= 0.5)
			}
			add(r)
		}
	}
	if r, ok := got["d16"]; ok {
		add(Row{Section: "rollout", Name: "cairn API reads per rollout wait (deployments GET/LIST/WATCH per Deployment, maxParallel 16)", Value: r.waitReqs, Unit: "req",
			Target: "O(1)", Met: met(r.waitReqs <= 3), Note: "from apiserver_request_total deltas; includes the controllers' deployment reads"})
	}
	if rss16 > 0 {
		add(Row{Section: "rollout", Name: "cairn peak RSS during (d), maxParallel 16", Value: float64(rss16) / 1024, Unit: "MiB", Note: fmt.Sprintf("maxParallel 1: %d MiB (getrusage maxrss)", rss1/1024)})
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// setup creates the namespaces (labelled istio-injection=enabled) with two
// Deployments of two replicas each, app + istio-proxy, and waits until all
// are available.
func setup(nss []string, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(nss))
	sem := make(chan struct{}, 8)
	for _, ns := range nss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
				Labels: map[string]string{"istio-injection": "enabled", "cairn-bench": key}}}, metav1.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			for _, name := range []string{"frontend", "backend"} {
				if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment(ns, name, key), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		panic(fmt.Sprintf("setup: %v", err))
	}
	if err := waitAll(ctx, cs, key, len(nss)*2, nil); err != nil {
		panic(fmt.Sprintf("setup: waiting for workloads: %v", err))
	}
}

func deployment(ns, name, key string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	replicas := int32(2)
	zero := int64(0)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name, "cairn-bench": key}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{
						{Name: "app", Image: "registry.k8s.io/pause:3.10"},
						{Name: "istio-proxy", Image: "gcr.io/gke-release/asm/proxyv2:1.20.3-asm.1", Args: []string{"proxy", "sidecar"}},
					},
					TerminationGracePeriodSeconds: &zero,
				},
			},
		},
	}
}

func rolloutComplete(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
}

// waitAll lists then watches every Deployment labelled cairn-bench=key until
// want of them are complete (and, if minGen is set, past that generation).
func waitAll(ctx context.Context, c kubernetes.Interface, key string, want int, minGen map[string]int64) error {
	sel := metav1.ListOptions{LabelSelector: "cairn-bench=" + key}
	list, err := c.AppsV1().Deployments("").List(ctx, sel)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	check := func(d *appsv1.Deployment) {
		k := d.Namespace + "/" + d.Name
		done[k] = rolloutComplete(d) && d.Generation >= minGen[k]
	}
	count := func() int {
		n := 0
		for _, v := range done {
			if v {
				n++
			}
		}
		return n
	}
	for i := range list.Items {
		check(&list.Items[i])
	}
	rv := list.ResourceVersion
	for count() < want {
		sel.ResourceVersion = rv
		w, err := c.AppsV1().Deployments("").Watch(ctx, sel)
		if err != nil {
			return err
		}
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				check(d)
				rv = d.ResourceVersion
			}
			if count() >= want {
				break
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func cleanup(nss []string) {
	for _, ns := range nss {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	}
}

// apiRequests reads apiserver_request_total from /metrics: the total and
// per resource/verb sums.
func apiRequests() map[string]float64 {
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	must(err)
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, _ := strconv.ParseFloat(line[i+1:], 64)
		m["total"] += v
		m[label(line, "resource")+"/"+label(line, "verb")] += v
	}
	return m
}

func label(line, name string) string {
	_, rest, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// (c) the floor.
func runFloor(nss []string) error {
	cfg := rest.CopyConfig(restCfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingRT{rt} }
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	key := strings.SplitN(nss[0], "-", 3)[1]
	now := time.Now().Format(time.RFC3339)
	var mu sync.Mutex
	minGen := map[string]int64{}
	var wg sync.WaitGroup
	errs := make(chan error, len(nss)*3)
	for _, ns := range nss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType,
				[]byte(`{"metadata":{"labels":{"istio.io/rev":"`+rev+`","istio-injection":null}}}`), metav1.PatchOptions{})
			if err != nil {
				errs <- err
				return
			}
			for _, name := range []string{"frontend", "backend"} {
				d, err := c.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType,
					[]byte(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"`+now+`"}}}}}`), metav1.PatchOptions{})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				minGen[ns+"/"+name] = d.Generation
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return waitAll(ctx, c, key, len(nss)*2, minGen)
}

// (a) kubectl, sequential per namespace.
func runKubectl(nss []string) error {
	for _, ns := range nss {
		for _, args := range [][]string{
			{"label", "namespace", ns, "istio.io/rev=" + rev, "istio-injection-", "--overwrite"},
			{"rollout", "restart", "deployment", "-n", ns},
			{"rollout", "status", "deployment", "-n", ns, "--timeout=5m"},
		} {
			cmd := exec.Command("kubectl", args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+*kubecfg)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	return nil
}

// (d) cairn with the real binary.
func runCairn(nss []string, maxParallel int, rss *int64, extra ...string) error {
	dir, err := os.MkdirTemp(*outDir, "rollout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pb := filepath.Join(dir, "rollout.yaml")
	if err := os.WriteFile(pb, []byte(fmt.Sprintf(`apiVersion: cairn/v1
kind: Playbook
metadata:
  name: bench-rollout
params:
  namespaces: {type: list, required: true}
  rev: {type: string, required: true}
steps:
  - id: relabel
    foreach: "${params.namespaces}"
    maxParallel: %[1]d
    kube.label:
      kind: Namespace
      name: "${item}"
      set: {istio.io/rev: "${params.rev}"}
      remove: [istio-injection]
  - id: restart
    foreach: "${params.namespaces}"
    maxParallel: %[1]d
    kube.rolloutRestart: {namespace: "${item}", all: true}
  - id: status
    foreach: "${params.namespaces}"
    maxParallel: %[1]d
    kube.rolloutStatus: {namespace: "${item}", all: true, timeout: 5m}
`, maxParallel)), 0o644); err != nil {
		return err
	}
	_, r, out, err := cairnCmd(nil, append([]string{"--journal", filepath.Join(dir, "j.db"), "--log-format", "json", "run", pb,
		"--kubeconfig", *kubecfg, "-p", "namespaces=" + strings.Join(nss, ","), "-p", "rev=" + rev}, extra...)...)
	*rss = r
	if err != nil {
		return fmt.Errorf("cairn run: %v: %s", err, tailOf(out))
	}
	return nil
}

// (b) Ansible: per namespace, label patch then each Deployment's restartedAt
// with wait: true. sleep 0 keeps the module's default wait_sleep.
func runAnsible(nss []string, sleep int) error {
	dir, err := os.MkdirTemp(*outDir, "ansible-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ws := ""
	if sleep > 0 {
		ws = fmt.Sprintf("\n    wait_sleep: %d", sleep)
	}
	tasks := fmt.Sprintf(`- name: relabel {{ ns }}
  kubernetes.core.k8s:
    state: patched
    kind: Namespace
    name: "{{ ns }}"
    definition:
      metadata:
        labels:
          istio.io/rev: %s
          istio-injection: null
- name: restart {{ ns }}
  kubernetes.core.k8s:
    state: patched
    kind: Deployment
    namespace: "{{ ns }}"
    name: "{{ item }}"
    definition:
      spec:
        template:
          metadata:
            annotations:
              kubectl.kubernetes.io/restartedAt: "{{ now(utc=true).isoformat() }}"
    wait: true
    wait_timeout: 300%s
  loop: [frontend, backend]
`, rev, ws)
	play := `- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - include_tasks: ns.yml
      loop: ` + "[" + strings.Join(nss, ", ") + "]" + `
      loop_control: {loop_var: ns}
`
	if err := os.WriteFile(filepath.Join(dir, "ns.yml"), []byte(tasks), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "play.yml"), []byte(play), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("ansible-playbook", "-i", "localhost,", filepath.Join(dir, "play.yml"))
	cmd.Env = append(os.Environ(), "K8S_AUTH_KUBECONFIG="+*kubecfg, "KUBECONFIG="+*kubecfg, "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_NOCOLOR=1")
	out, err := cmd.CombinedOutput()
	os.WriteFile(filepath.Join(*outDir, fmt.Sprintf("ansible-sleep%d.log", sleep)), out, 0o644)
	if err != nil {
		return fmt.Errorf("ansible-playbook: %v: %s", err, tailOf(out))
	}
	return nil
}
