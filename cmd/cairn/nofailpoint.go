//go:build !failpoint

package main

import "github.com/cairn-dev/cairn/workflow"

func withFailpoint(next func(workflow.Update)) func(workflow.Update) { return next }
