package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

type approveOptions struct {
	action.ApproveOptions
}

func newApproveCommand() *cli.Command {
	return &cli.Command{
		Name:         "approve",
		Usage:        "approve a gate a run is waiting at",
		ArgsUsage:    "RUN STEP",
		BashComplete: completeArgs(approveArgs),
		Description: `Records who approved the gate (your OS user and host) and when, with an
optional comment, in the journal. It does not continue the run: run
"cairn resume RUN" next.

   cairn approve 20261122-101500-3fa2c1 canary-ok --comment "error rate flat for 15m"
   cairn approve @latest canary-ok

` + runRefHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "item", Usage: "the foreach `ITEM` to approve, when the gate waits for several"},
			&cli.StringFlag{Name: "comment", Usage: "why you approve (kept in the journal)"},
		},
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() != 2 {
				return usagef("approve expects RUN and STEP, got %d arguments (see `cairn approve --help`)", c.NArg())
			}
			o := &approveOptions{action.ApproveOptions{RunID: c.Args().Get(0), Step: c.Args().Get(1), Item: c.String("item"), Comment: c.String("comment")}}
			return o.run(g)
		},
	}
}

func (o *approveOptions) run(g *globals) error {
	ev, err := g.cfg.Approve(o.ApproveOptions)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "approved %s of run %s as %s at %s; continue with: cairn resume %s\n",
		workflow.Key(o.Step, ev.Item), o.RunID, ev.User, ev.Time.Format("2006-01-02 15:04:05Z07:00"), o.RunID)
	return nil
}
