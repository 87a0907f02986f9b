package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/cairn-dev/cairn/cmd/cairn/cairntest"
)

// cairnBin is the real binary, built once with the failpoint for crash tests.
var cairnBin, repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cairn-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if cairnBin, repoRoot, err = cairntest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
