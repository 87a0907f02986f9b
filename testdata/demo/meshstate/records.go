package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// call is one line of the test doubles' invocation log (testdata/bin/main.go).
type call struct {
	Time string   `json:"time"`
	Tool string   `json:"tool"`
	Argv []string `json:"argv"`
	Exit int      `json:"exit"`
}

// calls prints every invocation of a test double and requires each
// TOOL:ARG in once (e.g. asmcli:install) to appear exactly once.
func calls(path string, once []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var c call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return fmt.Errorf("%s: %q: %v", path, line, err)
		}
		args := c.Argv
		if len(args) > 0 {
			args = append([]string{filepath.Base(args[0])}, shorten(args[1:])...)
		}
		fmt.Printf("  %s  %-8s exit %d  %s\n", clock(c.Time), c.Tool, c.Exit, strings.Join(args, " "))
		for _, o := range once {
			tool, arg, _ := strings.Cut(o, ":")
			if c.Tool == tool && contains(c.Argv[1:], arg) {
				count[o]++
			}
		}
	}
	bad := false
	for _, o := range once {
		tool, arg, _ := strings.Cut(o, ":")
		if count[o] == 1 {
			fmt.Printf("ok   %s %s ran exactly once\n", tool, arg)
		} else {
			fmt.Printf("FAIL %s %s ran %d times, want exactly once\n", tool, arg, count[o])
			bad = true
		}
	}
	if bad {
		return errFailed
	}
	return nil
}

// shorten replaces absolute paths by their last two elements, so that a
// line of the log fits a terminal.
func shorten(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if filepath.IsAbs(a) {
			a = ".../" + filepath.Join(filepath.Base(filepath.Dir(a)), filepath.Base(a))
		}
		out[i] = a
	}
	return out
}

func clock(rfc3339 string) string {
	if _, rest, ok := strings.Cut(rfc3339, "T"); ok && len(rest) >= 12 {
		return rest[:12]
	}
	return rfc3339
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// event is the part of a `cairn journal export` line this checks.
type event struct {
	Event *struct {
		Type    string `json:"type"`
		Step    string `json:"step"`
		Item    string `json:"item"`
		Attempt int    `json:"attempt"`
	} `json:"event"`
}

// journalCheck reads a run's export and requires that the run succeeded and
// that no step instance started again after its success was journaled;
// it names the instances the kill interrupted and how resume settled them.
func journalCheck(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	done := map[string]bool{}
	starts := map[string]int{}
	var order, bad []string
	succeeded, resumes := false, 0
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("journal export: %v", err)
		}
		if ev.Event == nil {
			continue // the run record
		}
		e := ev.Event
		key := e.Step
		if e.Item != "" {
			key += "[" + e.Item + "]"
		}
		switch e.Type {
		case "run.succeeded":
			succeeded = true
		case "run.resumed":
			resumes++
		case "instance.started":
			if done[key] {
				bad = append(bad, key+" started again after its success was journaled")
			}
			if starts[key] == 0 {
				order = append(order, key)
			}
			starts[key]++
		case "instance.checked":
			// Resume found a started, unfinished instance's effect in place.
			done[key] = true
			fmt.Printf("     %s was in flight at the kill; resume found its effect in place and did not redo it\n", key)
		case "instance.succeeded":
			done[key] = true
			if starts[key] > 1 {
				fmt.Printf("     %s was in flight at the kill; resume ran it again (attempt %d, same token)\n", key, e.Attempt)
			}
		case "instance.skipped":
			done[key] = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !succeeded {
		bad = append(bad, "the run did not succeed")
	}
	for _, k := range order {
		if !done[k] {
			bad = append(bad, k+" never succeeded")
		}
	}
	for _, b := range bad {
		fmt.Println("FAIL", b)
	}
	if len(bad) > 0 {
		return errFailed
	}
	fmt.Printf("ok   run succeeded after %d resumes; none of its %d step instances started again once its success was journaled\n", resumes, len(order))
	return nil
}
