package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
)

func newVersionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print cairn's version, its journal schema and the Go version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "cairn %s (journal schema %d, %s %s/%s)\n", version, journal.SchemaVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
