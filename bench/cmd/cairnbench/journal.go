package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/journal"
)

// benchJournal: BenchmarkAppend (v2), BenchmarkAppendV1 (the frozen v1
// writer) and BenchmarkRawBoltUpdate (go test, same disk: all use the
// test's temp dir, so TMPDIR decides), over rounds so that load changes
// hit all three alike; the journal file size at 10,000 runs of 8
// events for v1 and v2 (BenchmarkJournalSize); then a 1,000-step playbook
// of assert steps through the real binary.
func benchJournal() {
	const rounds = 5
	_ = os.Remove(filepath.Join(*outDir, "journal.test")) // built afresh from this tree
	names := []string{"BenchmarkAppend", "BenchmarkAppendV1", "BenchmarkRawBoltUpdate"}
	re := regexp.MustCompile(`(?m)^(BenchmarkAppend|BenchmarkAppendV1|BenchmarkRawBoltUpdate)-?\d*\s+\d+\s+([\d.]+) ns/op(.*)$`)
	metric := func(rest, unit string) float64 {
		m := regexp.MustCompile(`([\d.]+) ` + regexp.QuoteMeta(unit)).FindStringSubmatch(rest)
		if m == nil {
			return 0
		}
		f, _ := strconv.ParseFloat(m[1], 64)
		return f
	}
	vals := map[string][]time.Duration{}
	written := map[string]float64{}
	var all []byte
	// Ratios are taken within each round, whose three benchmarks ran
	// back to back, and their median reported.
	var ratios, ratiosV1 []time.Duration
	for r := 0; r < rounds; r++ {
		// Each benchmark in a process of its own, in an order that rotates
		// from round to round, so neither going first nor a warm process
		// favours one of them.
		round := map[string]float64{}
		for i := range names {
			n := names[(i+r)%len(names)]
			out := goBench("^"+n+"$", *benchtime)
			all = append(all, out...)
			for _, m := range re.FindAllStringSubmatch(string(out), -1) {
				f, _ := strconv.ParseFloat(m[2], 64)
				vals[m[1]] = append(vals[m[1]], time.Duration(f))
				written[m[1]] = metric(m[3], "written-B/op")
				round[m[1]] = f
			}
		}
		if raw := round["BenchmarkRawBoltUpdate"]; raw > 0 {
			ratios = append(ratios, time.Duration(1e6*round["BenchmarkAppend"]/raw))
			ratiosV1 = append(ratiosV1, time.Duration(1e6*round["BenchmarkAppendV1"]/raw))
		}
	}
	for _, n := range names {
		if len(vals[n]) == 0 {
			panic("no " + n + " figures in go test output:\n" + string(all))
		}
	}
	a, a1, r := median(vals["BenchmarkAppend"]), median(vals["BenchmarkAppendV1"]), median(vals["BenchmarkRawBoltUpdate"])
	note := fmt.Sprintf("median of %d rounds; %.1f KiB written per commit", rounds, written["BenchmarkAppend"]/1024)
	add(Row{Section: "journal", Name: "journal.Append v2, one fsynced transition", Value: float64(a) / 1e3, Unit: "µs", Note: note})
	add(Row{Section: "journal", Name: "journal.Append v1 (frozen v1 writer), same run", Value: float64(a1) / 1e3, Unit: "µs",
		Note: fmt.Sprintf("%.1f KiB written per commit", written["BenchmarkAppendV1"]/1024)})
	add(Row{Section: "journal", Name: "raw bbolt Update with fsync, same disk", Value: float64(r) / 1e3, Unit: "µs",
		Note: fmt.Sprintf("%.1f KiB written per commit", written["BenchmarkRawBoltUpdate"]/1024)})
	ratio := float64(median(ratios)) / 1e6
	add(Row{Section: "journal", Name: "Append v2 / raw bbolt (median of the rounds' ratios)", Value: ratio, Unit: "×", Target: "≤ 1.2×", Met: met(ratio <= 1.2)})
	add(Row{Section: "journal", Name: "Append v1 / raw bbolt (median of the rounds' ratios)", Value: float64(median(ratiosV1)) / 1e6, Unit: "×"})

	// File size at 10,000 runs of 8 events, v1 and v2, seeded one fsynced
	// transaction per run; then the time to migrate the v1 file.
	out := goBench("^BenchmarkJournalSize$", "1x")
	all = append(all, out...)
	sz := regexp.MustCompile(`(?m)^BenchmarkJournalSize/(v1|v2)\S*\s+\d+\s+\d+ ns/op(.*)$`)
	for _, m := range sz.FindAllStringSubmatch(string(out), -1) {
		per := metric(m[2], "file-bytes/run") / 1024
		row := Row{Section: "journal", Name: fmt.Sprintf("journal file per run of 8 events, %s, at 10,000 runs", m[1]), Value: per, Unit: "KiB",
			Note: fmt.Sprintf("%.1f MiB in all", metric(m[2], "file-MiB"))}
		if m[1] == "v2" {
			row.Target, row.Met = "≤ 2 KiB", met(per <= 2)
		} else {
			row.Note += fmt.Sprintf("; migrating it to v2 took %.1f s", metric(m[2], "migrate-s"))
		}
		add(row)
	}
	os.WriteFile(filepath.Join(*outDir, "journal-bench.txt"), all, 0o644)

	// Throughput: a playbook of N assert steps, run by the real binary.
	dir, err := os.MkdirTemp(*outDir, "steps-")
	must(err)
	defer os.RemoveAll(dir)
	var b strings.Builder
	b.WriteString("apiVersion: cairn/v1\nkind: Playbook\nmetadata:\n  name: noop\nsteps:\n")
	for i := 0; i < *steps; i++ {
		fmt.Fprintf(&b, "  - id: s%d\n    assert: {that: \"x\", equals: \"x\"}\n", i)
	}
	pb := filepath.Join(dir, "noop.yaml")
	must(os.WriteFile(pb, []byte(b.String()), 0o644))
	d, rss, o, err := cairnCmd(nil, "--journal", filepath.Join(dir, "j.db"), "--log-format", "json", "run", pb)
	if err != nil {
		panic(fmt.Sprintf("cairn run noop: %v\n%s", err, tailOf(o)))
	}
	add(Row{Section: "journal", Name: fmt.Sprintf("%d no-op (assert) steps, cairn run wall time", *steps), Value: d.Seconds(), Unit: "s"})
	add(Row{Section: "journal", Name: "no-op step throughput", Value: float64(*steps) / d.Seconds(), Unit: "steps/s",
		Note: fmt.Sprintf("%.2f ms/step, peak RSS %d MiB", ms(d)/float64(*steps), rss/1024)})
}

// goBench runs benchmarks of package journal, from a test binary built
// once, and returns the output.
func goBench(pattern, benchtime string) []byte {
	bin := filepath.Join(*outDir, "journal.test")
	if _, err := os.Stat(bin); err != nil {
		if out, err := exec.Command("go", "test", "-c", "-o", bin, "./journal").CombinedOutput(); err != nil {
			panic(fmt.Sprintf("go test -c ./journal: %v\n%s", err, out))
		}
	}
	cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime, "-test.count", "1", "-test.timeout", "30m")
	out, err := cmd.CombinedOutput()
	if err != nil {
		panic(fmt.Sprintf("journal.test -test.bench %s: %v\n%s", pattern, err, out))
	}
	return out
}

// benchResume: a journal with N seeded runs plus one real failed run; the
// latency from `cairn resume` start to its first step's side effect, and of
// `cairn runs` and `cairn show`.
func benchResume() {
	dir, err := os.MkdirTemp(*outDir, "resume-")
	must(err)
	defer os.RemoveAll(dir)
	j := filepath.Join(dir, "journal.db")
	t0 := time.Now()
	seedJournal(j, *seedRuns, 8)
	seedTime := time.Since(t0)
	st, err := os.Stat(j)
	must(err)
	events := *seedRuns * 9 // run record + 8 events each
	add(Row{Section: "resume", Name: fmt.Sprintf("journal with %d runs × 8 events: file size", *seedRuns), Value: float64(st.Size()) / (1 << 20), Unit: "MiB",
		Note: fmt.Sprintf("seeded in %.1fs, one fsynced transaction per run", seedTime.Seconds())})
	add(Row{Section: "resume", Name: "journal size per run", Value: float64(st.Size()) / float64(*seedRuns) / 1024, Unit: "KiB"})
	add(Row{Section: "resume", Name: "journal size per event (file / (runs × 8 events))", Value: float64(st.Size()) / float64(*seedRuns*8), Unit: "bytes",
		Note: fmt.Sprintf("%d records incl. run records: %.0f bytes each", events, float64(st.Size())/float64(events))})

	// One real run that fails at its first step until FLAG exists; the step
	// writes the time it ran to MARK.
	flagF, mark := filepath.Join(dir, "flag"), filepath.Join(dir, "mark")
	pb := filepath.Join(dir, "resume.yaml")
	must(os.WriteFile(pb, []byte(fmt.Sprintf(`apiVersion: cairn/v1
kind: Playbook
metadata:
  name: resume-bench
steps:
  - id: first
    exec:
      argv: [sh, -c, 'test -e %s && date +%%s%%N > %s']
  - id: second
    assert: {that: "x", equals: "x"}
`, flagF, mark)), 0o644))
	_, _, o, err := cairnCmd(nil, "--journal", j, "--log-format", "json", "run", pb)
	if err == nil {
		panic("resume-bench run did not fail at its first step:\n" + tailOf(o))
	}
	must(os.WriteFile(flagF, nil, 0o644))
	start := time.Now()
	d, _, o, err := cairnCmd(nil, "--journal", j, "--log-format", "json", "resume")
	if err != nil {
		panic(fmt.Sprintf("cairn resume: %v\n%s", err, tailOf(o)))
	}
	raw, err := os.ReadFile(mark)
	must(err)
	ns, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	must(err)
	first := time.Unix(0, ns).Sub(start)
	add(Row{Section: "resume", Name: fmt.Sprintf("cairn resume start → first step action, %d runs in journal", *seedRuns+1), Value: ms(first), Unit: "ms",
		Target: "< 200 ms", Met: met(first < 200*time.Millisecond), Note: fmt.Sprintf("includes fork/exec of the step's sh; whole resume %.0f ms", ms(d))})

	runID := ""
	if out, err := exec.Command(*cairnBin, "--journal", j, "runs").Output(); err == nil {
		if lines := strings.Split(string(out), "\n"); len(lines) > 1 {
			runID = strings.Fields(lines[1] + " x")[0]
		}
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"cairn runs (newest 20 by default)", []string{"runs"}},
		{"cairn show RUN (the resumed run)", []string{"show", runID}},
	} {
		var ds []time.Duration
		for i := 0; i < 5; i++ {
			d, _, o, err := cairnCmd(nil, append([]string{"--journal", j}, c.args...)...)
			if err != nil {
				panic(fmt.Sprintf("%s: %v\n%s", c.name, err, tailOf(o)))
			}
			ds = append(ds, d)
		}
		add(Row{Section: "resume", Name: fmt.Sprintf("%s, %d runs in journal (median of 5)", c.name, *seedRuns+1), Value: ms(median(ds)), Unit: "ms"})
	}
}

func tailOf(b []byte) string {
	s := string(b)
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// seedJournal fills a journal with runs dated 30 days back, so that a run
// created afterwards is the newest, each imported in one transaction.
func seedJournal(path string, runs, events int) {
	db, err := journal.Open(path, journal.Options{})
	must(err)
	defer db.Close()
	base := time.Now().Add(-30 * 24 * time.Hour)
	for i := 0; i < runs; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		r := journal.Run{ID: journal.NewRunID(at), Playbook: "seeded", PlaybookFile: "builtin:seeded",
			Digest: strings.Repeat("0", 64), Params: map[string]string{"ns": "app"}, User: "bench", Host: "bench", Started: at}
		evs := make([]journal.Event, events)
		for k := range evs {
			evs[k] = journal.Event{Type: "instance.succeeded", Step: fmt.Sprintf("step-%d", k+1), Time: at, Evidence: strings.Repeat("x", 100)}
		}
		must(db.ImportRun(r, evs))
	}
}
