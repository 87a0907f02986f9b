// Command cairnbench measures cairn for `make bench` (see bench/run.sh and
// the README's Performance section): journal cost, resume and audit latency
// with 10,000 runs, and rollout throughput against the local control plane
// compared with kubectl, Ansible and a client-go floor. It writes
// OUT/results.json and OUT/results.md and prints the table.
//
// It is a benchmark, not a test: every figure is reported, none is asserted.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Row is one line of the results table.
type Row struct {
	Section string  `json:"section"`
	Name    string  `json:"name"`
	Value   float64 `json:"value,omitempty"`
	Unit    string  `json:"unit,omitempty"`
	Target  string  `json:"target,omitempty"`
	Met     string  `json:"met,omitempty"` // "yes", "no", or "" (no target)
	Note    string  `json:"note,omitempty"`
}

type results struct {
	Started string            `json:"started"`
	Machine map[string]string `json:"machine"`
	Rows    []Row             `json:"rows"`
}

var (
	outDir    = flag.String("out", "bench/out", "results directory")
	cairnBin  = flag.String("cairn", "bin/cairn", "cairn binary")
	kubecfg   = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig of the local control plane; empty skips the rollout section")
	nsCount   = flag.Int("n", 50, "namespaces for the rollout section")
	ansibleN  = flag.Int("ansible-n", 10, "namespaces for the Ansible contenders (0 skips them)")
	seedRuns  = flag.Int("runs", 10000, "runs in the journal for the resume/audit section")
	steps     = flag.Int("steps", 1000, "no-op steps for the throughput playbook")
	sections  = flag.String("only", "journal,resume,rollout,mirror", "sections to run")
	benchtime = flag.String("benchtime", "2s", "go test -benchtime for the journal benchmarks")
)

var res results

func main() {
	flag.Parse()
	must(os.MkdirAll(*outDir, 0o755))
	od, err := filepath.Abs(*outDir)
	must(err)
	*outDir = od
	abs, err := filepath.Abs(*cairnBin)
	must(err)
	*cairnBin = abs
	if *kubecfg != "" {
		k, err := filepath.Abs(*kubecfg)
		must(err)
		*kubecfg = k
	}
	res.Started = time.Now().UTC().Format(time.RFC3339)
	res.Machine = machine()
	for _, s := range strings.Split(*sections, ",") {
		switch s {
		case "journal":
			guard("journal", benchJournal)
		case "resume":
			guard("resume", benchResume)
		case "rollout":
			if *kubecfg == "" {
				add(Row{Section: "rollout", Name: "all contenders", Note: "skipped: no kubeconfig (run through make bench)"})
				continue
			}
			guard("rollout", benchRollout)
		case "mirror":
			if *kubecfg == "" {
				add(Row{Section: "mirror", Name: "all measures", Note: "skipped: no kubeconfig (run through make bench)"})
				continue
			}
			guard("mirror", benchMirror)
		}
		write()
	}
	write()
	fmt.Print(markdown())
}

// guard runs a section and turns a panic into a "skipped" row, so one broken
// section never loses the others' figures.
func guard(section string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			add(Row{Section: section, Name: "section aborted", Note: fmt.Sprintf("skipped: %v", r)})
		}
	}()
	fn()
}

func add(r Row) {
	res.Rows = append(res.Rows, r)
	fmt.Fprintf(os.Stderr, "bench: %-8s %-58s %12s %s %s\n", r.Section, r.Name, fmtVal(r), r.Unit, r.Note)
}

func fmtVal(r Row) string {
	if r.Value == 0 && r.Unit == "" {
		return ""
	}
	switch {
	case r.Value >= 100:
		return strconv.FormatFloat(r.Value, 'f', 0, 64)
	case r.Value >= 10:
		return strconv.FormatFloat(r.Value, 'f', 1, 64)
	default:
		return strconv.FormatFloat(r.Value, 'f', 2, 64)
	}
}

func write() {
	b, _ := json.MarshalIndent(res, "", "  ")
	must(os.WriteFile(filepath.Join(*outDir, "results.json"), append(b, '\n'), 0o644))
	must(os.WriteFile(filepath.Join(*outDir, "results.md"), []byte(markdown()), 0o644))
}

func markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cairn benchmark, %s\n\n", res.Started)
	keys := make([]string, 0, len(res.Machine))
	for k := range res.Machine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, res.Machine[k])
	}
	b.WriteString("\n| section | measure | value | unit | target | met | note |\n|---|---|---:|---|---|---|---|\n")
	for _, r := range res.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Section, r.Name, fmtVal(r), r.Unit, r.Target, r.Met, strings.ReplaceAll(r.Note, "|", "/"))
	}
	return b.String()
}

func machine() map[string]string {
	m := map[string]string{"go": runtime.Version(), "cpus": strconv.Itoa(runtime.NumCPU()), "os": runtime.GOOS + "/" + runtime.GOARCH}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if mm := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(raw); mm != nil {
			m["cpu"] = string(mm[1])
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		if mm := regexp.MustCompile(`MemTotal:\s*(\d+)`).FindSubmatch(raw); mm != nil {
			kb, _ := strconv.Atoi(string(mm[1]))
			m["memory"] = fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
		}
	}
	if out, err := exec.Command("sh", "-c", "df -h --output=source,fstype . | tail -1").Output(); err == nil {
		m["disk (cwd)"] = strings.Join(strings.Fields(string(out)), " ")
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m["kernel"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("cat", "/proc/loadavg").Output(); err == nil {
		m["loadavg at start"] = strings.Join(strings.Fields(string(out))[:3], " ")
	}
	return m
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// cairnCmd runs the cairn binary and returns its wall time and peak RSS (KiB).
func cairnCmd(env []string, args ...string) (time.Duration, int64, []byte, error) {
	cmd := exec.Command(*cairnBin, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss
		}
	}
	return d, rss, out, err
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
