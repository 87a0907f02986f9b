package main

import (
	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/workflow/action"
)

type rollbackOptions struct {
	action.ResumeOptions
	plan   bool
	output string
}

func newRollbackCommand() *cli.Command {
	return &cli.Command{
		Name:         "rollback",
		Usage:        "undo a run's succeeded steps, newest first",
		ArgsUsage:    "RUN",
		BashComplete: firstArg(runIDs),
		Description: `Runs the undo action of every succeeded step instance of RUN, in reverse
order of completion. Steps without an undo are left as they are. The
rollback is journaled as a phase of the run; if it is interrupted, run the
same command again: undos that succeeded are not repeated.

A step marked irreversible (deleting the old control plane, bmctl upgrade
cluster) is a point of no return: once a run has started one, rollback
refuses (exit 4) and says which step was passed and why it cannot be
undone, instead of undoing the steps around it.

Like resume, it acts on the run's cluster (without --context, through the
kubeconfig context that reaches it), refuses another cluster than the run's
unless --force, and holds the cluster lock while it works (see cairn run
--help).

   cairn rollback RUN --plan      what would be undone, newest first
   cairn rollback RUN

` + paramsHelp + "\n\n" + runRefHelp,
		Flags: append(append(paramFlags(), clusterFlags()...),
			&cli.BoolFlag{Name: "force", Usage: "roll back even if the playbook, parameters or cluster changed (journaled)"},
			&cli.BoolFlag{Name: "plan", Usage: "print what rollback would undo and pass over, newest first, and do nothing"},
			waitLockFlag(),
			outputFlag()),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &rollbackOptions{plan: c.Bool("plan"), output: c.String("output")}
			o.Force, o.WaitLock = c.Bool("force"), c.Bool("wait-lock")
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if o.RunID, err = oneArg(c, "RUN"); err != nil {
				return err
			}
			if o.Params, err = readParams(c); err != nil {
				return err
			}
			return o.run(c, g)
		},
	}
}

func (o *rollbackOptions) run(c *cli.Context, g *globals) error {
	if o.plan {
		entries, err := g.cfg.RollbackPlan(o.ResumeOptions)
		if err != nil {
			return err
		}
		return printPlan(g.stdout, o.output, entries)
	}
	out, err := g.cfg.Rollback(c.Context, o.ResumeOptions)
	g.progress.stop()
	reportOutcome(g.stdout, out)
	return err
}
