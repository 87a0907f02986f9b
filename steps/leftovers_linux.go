package steps

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// findMarked lists the processes whose environment holds every mark.
// Processes of other users cannot be read and are not ours.
func findMarked(marks []string) ([]Leftover, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []Leftover
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue // gone, or not ours to read
		}
		if hasAll(bytes.Split(env, []byte{0}), marks) {
			out = append(out, Leftover{PID: pid, Command: commandOf(pid)})
		}
	}
	return out, nil
}

func hasAll(vars [][]byte, marks []string) bool {
	for _, m := range marks {
		if !slices.ContainsFunc(vars, func(v []byte) bool { return string(v) == m }) {
			return false
		}
	}
	return true
}

func commandOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return "?"
	}
	s := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// killAndWait sends SIGKILL to each process and to its process group
// (never cairn's own), then waits on a pidfd for each to exit.
func killAndWait(ctx context.Context, ls []Leftover) error {
	ownGroup := syscall.Getpgrp()
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, l := range ls {
		fd, err := unix.PidfdOpen(l.PID, 0)
		if err == nil {
			fds = append(fds, fd)
		}
		if pg, err := syscall.Getpgid(l.PID); err == nil && pg != ownGroup && pg > 1 {
			_ = syscall.Kill(-pg, syscall.SIGKILL)
		}
		if err := syscall.Kill(l.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	// A pidfd becomes readable when its process exits (a zombie counts:
	// it can no longer act).
	for _, fd := range fds {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 1000)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return err
			}
			if n > 0 {
				break
			}
		}
	}
	return nil
}
