package main

import (
	"context"
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

A run kept in its cluster's journal mirror (a run bound to a cluster, not
started with --no-mirror) gets the approval there too, so that an
operator on another machine can continue it with "cairn resume
--from-cluster". approve then needs the run's cluster (--kubeconfig,
--context, --lock-namespace as the run had them; it waits up to
--request-timeout): if it cannot be reached, the approval is kept in the
local journal only, with a warning, and the next "cairn resume" from this
journal writes it to the mirror. A mirror that went on without this
journal (another machine continued the run) is refused: exit 4, nothing
written.

   cairn approve 20261122-101500-3fa2c1 canary-ok --comment "error rate flat for 15m"
   cairn approve @latest canary-ok

` + runRefHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "item", Usage: "the foreach `ITEM` to approve, when the gate waits for several"},
			&cli.StringFlag{Name: "comment", Usage: "why you approve (kept in the journal)"},
		}, clusterFlags()...),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() != 2 {
				return usagef("approve expects RUN and STEP, got %d arguments (see `cairn approve --help`)", c.NArg())
			}
			o := &approveOptions{action.ApproveOptions{RunID: c.Args().Get(0), Step: c.Args().Get(1), Item: c.String("item"), Comment: c.String("comment")}}
			return o.run(c.Context, g)
		},
	}
}

func (o *approveOptions) run(ctx context.Context, g *globals) error {
	a, err := g.cfg.Approve(ctx, o.ApproveOptions)
	if err != nil {
		return err
	}
	ev := a.Event
	where := ""
	switch {
	case a.Mirrored:
		where = " (in the journal and the cluster's journal mirror)"
	case a.Unmirrored != nil:
		g.cfg.Log.Warn().Err(a.Unmirrored).Str("run", a.RunID).
			Msg("the approval is in the local journal only, not yet in the cluster's journal mirror: `cairn resume` from this journal writes it there; until then, a resume --from-cluster on another machine does not see it")
		where = " (in the local journal only)"
	}
	fmt.Fprintf(g.stdout, "approved %s of run %s as %s at %s%s; continue with: cairn resume %s\n",
		workflow.Key(o.Step, ev.Item), a.RunID, ev.User, ev.Time.Format("2006-01-02 15:04:05Z07:00"), where, a.RunID)
	return nil
}
