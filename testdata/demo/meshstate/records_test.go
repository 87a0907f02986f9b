package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo's verdict rests on these two checks: each must fail on the
// outcome it exists to catch.

func exportOf(events ...string) string {
	lines := []string{`{"run":{"id":"r"}}`}
	for _, e := range events {
		lines = append(lines, `{"event":`+e+`}`)
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestJournalCheck(t *testing.T) {
	const (
		startA   = `{"type":"instance.started","step":"a","attempt":1}`
		startA2  = `{"type":"instance.started","step":"a","attempt":2}`
		doneA    = `{"type":"instance.succeeded","step":"a","attempt":1}`
		doneA2   = `{"type":"instance.succeeded","step":"a","attempt":2}`
		checkedA = `{"type":"instance.checked","step":"a","attempt":1}`
		startB   = `{"type":"instance.started","step":"b","item":"x","attempt":1}`
		doneB    = `{"type":"instance.succeeded","step":"b","item":"x","attempt":1}`
		resumed  = `{"type":"run.resumed"}`
		ok       = `{"type":"run.succeeded"}`
	)
	for name, tc := range map[string]struct {
		export string
		pass   bool
	}{
		"clean":                      {exportOf(startA, doneA, startB, doneB, ok), true},
		"in flight, re-run":          {exportOf(startA, resumed, startA2, doneA2, startB, doneB, ok), true},
		"in flight, found in place":  {exportOf(startA, resumed, checkedA, startB, doneB, ok), true},
		"started again after done":   {exportOf(startA, doneA, resumed, startA2, doneA2, startB, doneB, ok), false},
		"run not succeeded":          {exportOf(startA, doneA, startB, doneB), false},
		"instance started, not done": {exportOf(startA, doneA, startB, ok), false},
	} {
		t.Run(name, func(t *testing.T) {
			err := journalCheck(strings.NewReader(tc.export))
			if tc.pass && err != nil {
				t.Errorf("got %v, want success", err)
			}
			if !tc.pass && !errors.Is(err, errFailed) {
				t.Errorf("got %v, want a failure", err)
			}
		})
	}
}

func TestCallsOnce(t *testing.T) {
	install := `{"time":"2026-11-22T05:08:10.1Z","tool":"asmcli","argv":["/x/asmcli_1140-0","install","--kubeconfig","/k"],"exit":0}`
	version := `{"time":"2026-11-22T05:08:09.1Z","tool":"asmcli","argv":["/x/asmcli_1140-0","--version"],"exit":0}`
	for name, tc := range map[string]struct {
		lines []string
		pass  bool
	}{
		"once":  {[]string{version, install}, true},
		"twice": {[]string{version, install, install}, false},
		"never": {[]string{version}, false},
	} {
		t.Run(name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "calls.log")
			if err := os.WriteFile(log, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := calls(log, []string{"asmcli:install"})
			if tc.pass && err != nil {
				t.Errorf("got %v, want success", err)
			}
			if !tc.pass && !errors.Is(err, errFailed) {
				t.Errorf("got %v, want a failure", err)
			}
		})
	}
}
