package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

type approveOptions struct {
	runID, step, item, comment string
}

func newApproveCommand() *cli.Command {
	return &cli.Command{
		Name:      "approve",
		Usage:     "approve a gate a run is waiting at",
		ArgsUsage: "RUN STEP",
		Description: `Records who approved the gate (your OS user and host) and when, with an
optional comment, in the journal. It does not continue the run: run
"cairn resume RUN" next.

   cairn approve 20261122-101500-3fa2c1 canary-ok --comment "error rate flat for 15m"`,
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
			o := &approveOptions{runID: c.Args().Get(0), step: c.Args().Get(1), item: c.String("item"), comment: c.String("comment")}
			return o.run(g)
		},
	}
}

func (o *approveOptions) run(g *globals) error {
	db, err := g.openJournal(false)
	if err != nil {
		return err
	}
	defer db.Close()
	ev, err := g.engine(db, g.registry()).Approve(o.runID, o.step, o.item, o.comment)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "approved %s of run %s as %s at %s; continue with: cairn resume %s\n",
		o.step, o.runID, ev.User, ev.Time.Format("2006-01-02 15:04:05Z07:00"), o.runID)
	return nil
}
