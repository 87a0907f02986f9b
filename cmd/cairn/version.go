package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
)

func newVersionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print cairn's version, its journal schema and the Go version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "cairn %s (journal schema %d, %s %s/%s)\n", cairnVersion(), journal.SchemaVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// cairnVersion is the version set at link time (make build), else what the
// Go toolchain recorded: the module version for `go install ...@v1.2.3`,
// or the commit for a build from a checkout.
func cairnVersion() string { return versionOf(version, debug.ReadBuildInfo) }

func versionOf(linked string, buildInfo func() (*debug.BuildInfo, bool)) string {
	if linked != "dev" && linked != "" {
		return linked
	}
	bi, ok := buildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev-" + rev + dirty
}
