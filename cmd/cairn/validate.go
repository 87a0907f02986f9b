package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func newValidateCommand() *cli.Command {
	return &cli.Command{
		Name:         "validate",
		Usage:        "check playbooks and list every error with file:line:col",
		ArgsUsage:    "FILE...",
		BashComplete: completeArgs(playbookNames),
		Description: `Checks everything that can be checked before a run: YAML syntax, unknown
keys and wrong types at every level, duplicate or malformed step ids, unknown
step kinds, each kind's parameters, durations, foreach/check/undo shapes, and
every ${...} reference. Exits 2 if any file has an error.

Warnings (exit 0) point at what is valid but likely wrong, such as a
${...} reference inside a "sh -c" script, where a value becomes code.`,
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() == 0 {
				return usagef("validate expects at least one FILE (a built-in name works too)")
			}
			var errs []error
			for _, ref := range c.Args().Slice() {
				pb, _, err := g.cfg.LoadPlaybook(ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				for _, w := range pb.Warnings {
					fmt.Fprintf(g.stdout, "%s: warning: %s\n", w.Pos, w.Msg)
				}
				fmt.Fprintf(g.stdout, "%s: ok (%s, %d steps)\n", ref, pb.Name, len(pb.Steps))
			}
			if len(errs) > 0 {
				for _, err := range errs {
					fmt.Fprintln(g.stdout, err)
				}
				return usagef("%d of %d playbooks are invalid", len(errs), c.NArg())
			}
			return nil
		},
	}
}
