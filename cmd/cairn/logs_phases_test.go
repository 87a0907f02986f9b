package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// undoPlaybook installs two items and fails after them. The undo prints a
// line on each stream; b's fails until UNDO_OK exists, a's waits for
// RELEASE before its last line.
const undoPlaybook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: undo-logs}
params:
  dir: {type: string, required: true}
steps:
  - id: install
    foreach: [a, b]
    exec: {argv: [sh, -c, 'echo "install $1"', sh, "${item}"]}
    undo:
      exec:
        argv:
          - sh
          - -c
          - |
            echo "undo $1 out"; echo "undo $1 err" >&2
            if [ "$1" = b ]; then [ -e "$2/UNDO_OK" ]; exit; fi
            i=0; while [ ! -e "$2/RELEASE" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e "$2/RELEASE" ] || echo "RELEASE never came"
            echo "undo $1 done"
          - sh
          - ${item}
          - ${params.dir}
  - id: boom
    exec: {argv: [sh, -c, 'exit 3']}
`

// The output of a rollback's undos is kept per undo attempt beside the
// step's attempts, each file's sha256 in its undo.succeeded or
// undo.failed event; logs shows it after the step's attempts, in journal
// order, follows it from another process while the rollback runs, warns
// when a file changed, and --attempt leaves it out.
func TestLogsShowUndoOutput(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "undo.yaml")
	if err := os.WriteFile(play, []byte(undoPlaybook), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := binEnv(t, j, nil, "run", play, "-p", "dir="+dir); r.code != ExitFailed {
		t.Fatalf("run: exit %d, want %d\n%s", r.code, ExitFailed, r.stderr)
	}
	id := strings.TrimSpace(binEnv(t, j, nil, "runs", "-q").stdout)
	if r := binEnv(t, j, nil, "rollback", id); r.code == ExitOK || !streamed(r.stderr, "undo", "stderr", "undo b err") || !strings.Contains(r.stdout, "output: cairn logs "+id) {
		t.Fatalf("rollback with b's undo failing: exit %d, its output not streamed to the log, or logs not named:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "UNDO_OK"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// a's undo waits for RELEASE: its first two lines can only come
	// through while it runs.
	rb := startBin(t, j, "rollback", id)
	waitFile(t, filepath.Join(j+".d", "logs", id, "install[a].undo.1.log"), rb)
	f := startBin(t, j, "logs", id, "install[a]", "-f")
	seen := f.until(t, "undo a out", "undo a err")
	if err := os.WriteFile(filepath.Join(dir, "RELEASE"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	seen = append(seen, f.rest(t)...)
	rb.rest(t)
	assertBlocks(t, "logs -f during the rollback", strings.Join(seen, "\n")+"\n", []logBlock{
		{"==> install[a] attempt 1 (succeeded) <==", []string{"install a"}},
		{"==> install[a] undo attempt 1 (running, or stopped before it finished) <==", []string{"undo a out", "undo a err", "undo a done"}},
	})

	r := binEnv(t, j, nil, "logs", id, "install")
	if r.code != ExitOK || r.stderr != "" {
		t.Errorf("logs: exit %d\n%s", r.code, r.stderr)
	}
	assertBlocks(t, "logs after the rollback", r.stdout, []logBlock{
		{"==> install[a] attempt 1 (succeeded) <==", []string{"install a"}},
		{"==> install[b] attempt 1 (succeeded) <==", []string{"install b"}},
		{"==> install[b] undo attempt 1 (failed) <==", []string{"undo b out", "undo b err"}},
		{"==> install[b] undo attempt 2 (succeeded) <==", []string{"undo b out", "undo b err"}},
		{"==> install[a] undo attempt 1 (succeeded) <==", []string{"undo a out", "undo a err", "undo a done"}},
	})
	if r := binEnv(t, j, nil, "logs", id, "install[b]", "--attempt", "1"); r.code != ExitOK || r.stdout != "==> install[b] attempt 1 (succeeded) <==\ninstall b\n" {
		t.Errorf("--attempt 1 is the step's attempt only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Each undo's file is what its finishing event recorded.
	refs := journaledFiles(t, j, id, "output", "undo.succeeded", "undo.failed")
	want := []string{"install[b].undo.1.log", "install[b].undo.2.log", "install[a].undo.1.log"}
	if got := fileNames(refs); !slices.Equal(got, want) {
		t.Fatalf("undo events record files %q, want %q", got, want)
	}
	assertFilesMatch(t, j, id, refs)

	// A changed file is still shown, with a warning naming the undo.
	forged, err := os.OpenFile(filepath.Join(j+".d", "logs", id, "install[b].undo.1.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	forged.WriteString("2026-01-01T00:00:00.000Z stdout forged\n")
	forged.Close()
	r = binEnv(t, j, nil, "logs", id, "install[b]")
	if r.code != ExitOK || !strings.Contains(r.stdout, "forged") || strings.Count(r.stderr, "does not match the journal") != 1 ||
		!strings.Contains(r.stderr, `"phase":"undo","attempt":1`) {
		t.Errorf("tampered undo file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// checkPlaybook's steps each have an exec check that prints a line on
// each stream and passes when the step's effect file exists; two's waits
// for RELEASE first.
const checkPlaybook = `apiVersion: cairn/v1
kind: Playbook
metadata: {name: check-logs}
params:
  dir: {type: string, required: true}
steps:
  - id: one
    exec: {argv: [sh, -c, 'touch "$1/one"', sh, "${params.dir}"]}
    check:
      exec: {argv: [sh, -c, 'echo "checking $1"; echo "looked in $2" >&2; [ -e "$2/$1" ]', sh, one, "${params.dir}"]}
  - id: two
    exec: {argv: [sh, -c, 'echo "making two"; touch "$1/two"', sh, "${params.dir}"]}
    check:
      exec:
        argv:
          - sh
          - -c
          - |
            echo "checking $1"; echo "looked in $2" >&2
            i=0; while [ ! -e "$2/RELEASE" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e "$2/RELEASE" ] || echo "RELEASE never came"
            [ -e "$2/$1" ]
          - sh
          - two
          - ${params.dir}
`

// Resume asks an unfinished instance's exec check, whose output is kept
// like an attempt's: logs shows it between the attempt it checked and the
// one that follows, "in place" (instance.checked) or "not in place"
// (check.failed), each event holding its file's sha256; logs -f shows it
// while it runs, past the attempt it checks, which will never finish.
func TestLogsShowCheckOutput(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	play := filepath.Join(dir, "check.yaml")
	if err := os.WriteFile(play, []byte(checkPlaybook), 0o600); err != nil {
		t.Fatal(err)
	}
	// Killed as each step starts; one's effect is in place all the same.
	if r := binEnv(t, j, []string{"CAIRN_KILL_AT=instance.started:one"}, "run", play, "-p", "dir="+dir); r.code != -1 {
		t.Fatalf("run: exit %d, want killed\n%s", r.code, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "one"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(binEnv(t, j, nil, "runs", "-q").stdout)
	if r := binEnv(t, j, []string{"CAIRN_KILL_AT=instance.started:two"}, "resume", id); r.code != -1 {
		t.Fatalf("resume: exit %d, want killed\n%s", r.code, r.stderr)
	}
	res := startBin(t, j, "resume", id)
	waitFile(t, filepath.Join(j+".d", "logs", id, "two.check.1.log"), res)
	f := startBin(t, j, "logs", id, "-f")
	seen := f.until(t, "checking two")
	if err := os.WriteFile(filepath.Join(dir, "RELEASE"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if seen = append(seen, f.rest(t)...); !slices.Contains(seen, "making two") || slices.Contains(seen, "RELEASE never came") {
		t.Errorf("logs -f printed\n%s", strings.Join(seen, "\n"))
	}
	if res.rest(t); !streamed(res.stderr.String(), "check", "stdout", "checking two") {
		t.Fatalf("the check's output not streamed to resume's log:\n%s", res.stderr.String())
	}

	r := binEnv(t, j, nil, "logs", id)
	if r.code != ExitOK {
		t.Errorf("logs: exit %d\n%s", r.code, r.stderr)
	}
	looked := "looked in " + dir
	assertBlocks(t, "logs", r.stdout, []logBlock{
		{"==> one attempt 1 (already in place) <==", nil},
		{"==> one check attempt 1 (in place) <==", []string{"checking one", looked}},
		{"==> two attempt 1 (running, or stopped before it finished) <==", nil},
		{"==> two check attempt 1 (not in place) <==", []string{"checking two", looked}},
		{"==> two attempt 2 (succeeded) <==", []string{"making two"}},
	})
	// The killed attempt that was checked ended with no checksum of its
	// output; the checks' files match theirs.
	if n := strings.Count(r.stderr, "recorded no checksum"); n != 1 || !strings.Contains(r.stderr, `"step":"one","attempt":1`) || strings.Contains(r.stderr, "does not match") {
		t.Errorf("logs warned %d times of a missing checksum, want once, for one's killed attempt:\n%s", n, r.stderr)
	}
	if r := binEnv(t, j, nil, "logs", id, "two", "--attempt", "2"); r.code != ExitOK || r.stdout != "==> two attempt 2 (succeeded) <==\nmaking two\n" {
		t.Errorf("--attempt 2: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	refs := journaledFiles(t, j, id, "check", "instance.checked", "check.failed")
	if got, want := fileNames(refs), []string{"one.check.1.log", "two.check.1.log"}; !slices.Equal(got, want) {
		t.Fatalf("check events record files %q, want %q", got, want)
	}
	assertFilesMatch(t, j, id, refs)
}

// binEnv runs the built binary with env added to its environment; a
// process killed by a signal gets code -1.
func binEnv(t *testing.T, journal string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(cairnBin, append([]string{"--log-format", "json", "--journal", journal}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cliResult{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

// started is a cairn process whose stdout is read line by line.
type started struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr strings.Builder
}

func startBin(t *testing.T, j string, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(cairnBin, append([]string{"--log-format", "json", "--journal", j}, args...)...), lines: make(chan string)}
	pipe, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s
}

// until reads lines until it has read each of want.
func (s *started) until(t *testing.T, want ...string) []string {
	t.Helper()
	var seen []string
	for l := range s.lines {
		seen = append(seen, l)
		if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(seen, w) }) {
			return seen
		}
	}
	err := s.cmd.Wait()
	t.Fatalf("%s ended (%v) before printing %q: %q\n%s", s.cmd.Args, err, want, seen, s.stderr.String())
	return nil
}

// rest reads the lines left, waits for the process to succeed, and
// returns them.
func (s *started) rest(t *testing.T) []string {
	t.Helper()
	var seen []string
	for l := range s.lines {
		seen = append(seen, l)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", s.cmd.Args, err, s.stderr.String())
	}
	return seen
}

// waitFile waits for path to exist, which s creates.
func waitFile(t *testing.T, path string, s *started) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			s.cmd.Wait()
			t.Fatalf("%s never appeared:\n%s", path, s.stderr.String())
		}
	}
}

// streamed tells whether a JSON log holds a line of an action's output.
func streamed(log, phase, stream, line string) bool {
	return regexp.MustCompile(`"phase":"` + phase + `","stream":"` + stream + `",("time":"[^"]+",)?"message":"` + regexp.QuoteMeta(line) + `"`).MatchString(log)
}

// logBlock is one attempt in logs' output: its header and its lines, in
// any order (a program's two streams are read apart).
type logBlock struct {
	header string
	lines  []string
}

func assertBlocks(t *testing.T, what, out string, want []logBlock) {
	t.Helper()
	var got []logBlock
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(l, "==> ") {
			got = append(got, logBlock{header: l})
		} else if len(got) > 0 {
			got[len(got)-1].lines = append(got[len(got)-1].lines, l)
		}
	}
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		a, b := slices.Clone(got[i].lines), slices.Clone(want[i].lines)
		slices.Sort(a)
		slices.Sort(b)
		same = got[i].header == want[i].header && slices.Equal(a, b)
	}
	if !same {
		t.Errorf("%s printed\n%s\nwant (lines of an attempt in any order)\n%v", what, out, want)
	}
}

type fileRef struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// journaledFiles reads, from the run's exported events of the given
// types, the output file each records under key in its data.
func journaledFiles(t *testing.T, j, id, key string, types ...string) []fileRef {
	t.Helper()
	r := binEnv(t, j, nil, "journal", "export", id)
	if r.code != ExitOK {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	var refs []fileRef
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var line struct {
			Event *struct {
				Type string
				Data map[string]json.RawMessage
			} `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line.Event == nil || !slices.Contains(types, line.Event.Type) {
			continue
		}
		var ref fileRef
		if err := json.Unmarshal(line.Event.Data[key], &ref); err != nil {
			t.Fatalf("%s records no %s file: %v", line.Event.Type, key, err)
		}
		refs = append(refs, ref)
	}
	return refs
}

func fileNames(refs []fileRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.File)
	}
	return out
}

func assertFilesMatch(t *testing.T, j, id string, refs []fileRef) {
	t.Helper()
	for _, ref := range refs {
		b, err := os.ReadFile(filepath.Join(j+".d", "logs", id, ref.File))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != ref.SHA256 || int64(len(b)) != ref.Bytes || !bytes.Contains(b, []byte(" stderr ")) {
			t.Errorf("%s: journal says %+v; file has %d bytes:\n%s", ref.File, ref, len(b), b)
		}
	}
}
