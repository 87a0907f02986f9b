//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Files the operator names are read up to 4 MiB: /dev/zero as a playbook,
// a params file or a parameter's file is refused (exit 2), not read until
// memory runs out; a named pipe no one writes to reads as empty at once
// (issue 14 D14).
func TestInputsAreCapped(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "j.db")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", "/dev/zero"}, "read /dev/zero: larger than the 4 MiB cairn reads"},
		{[]string{"plan", "/dev/zero"}, "read /dev/zero: larger than the 4 MiB cairn reads"},
		{[]string{"plan", "demo", "--params-file", "/dev/zero"}, "read /dev/zero: larger than the 4 MiB cairn reads"},
		{[]string{"plan", "demo", "--param-from-file", "workdir=/dev/zero"}, "read /dev/zero: larger than the 4 MiB cairn reads"},
		{[]string{"validate", fifo}, "file is empty"},
		{[]string{"plan", "demo", "--params-file", fifo}, "missing required parameter workdir"},
	} {
		r := cairn(t, j, c.args...)
		if r.code != ExitUsage || !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Errorf("%v: exit %d, want %d and %q\n%s%s", c.args, r.code, ExitUsage, c.want, r.stdout, r.stderr)
		}
	}
}
