//go:build !failpoint

package main

import "github.com/cairn-dev/cairn/journal"

func withFailpoint(next func(journal.Event)) func(journal.Event) { return next }
