package main

import (
	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/workflow"
)

type rollbackOptions struct {
	runID string
	force bool
	set   map[string]string
	file  map[string]any
}

func newRollbackCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "undo a run's succeeded steps, newest first",
		ArgsUsage: "RUN",
		Description: `Runs the undo action of every succeeded step instance of RUN, in reverse
order of completion. Steps without an undo are left as they are. The
rollback is journaled as a phase of the run; if it is interrupted, run the
same command again: undos that succeeded are not repeated. Like resume, it
refuses another cluster than the run's unless --force, and holds the cluster
lock while it works (see cairn run --help).`,
		Flags: append(append(paramFlags(), clusterFlags()...),
			&cli.BoolFlag{Name: "force", Usage: "roll back even if the playbook, parameters or cluster changed (journaled)"}),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &rollbackOptions{force: c.Bool("force")}
			if o.runID, err = oneArg(c, "RUN"); err != nil {
				return err
			}
			if o.set, o.file, err = readParams(c); err != nil {
				return err
			}
			return o.run(c, g)
		},
	}
}

func (o *rollbackOptions) run(c *cli.Context, g *globals) error {
	db, err := g.openJournal(false)
	if err != nil {
		return err
	}
	defer db.Close()
	run, pb, reg, err := g.trustedRun(db, o.runID)
	if err != nil {
		return err
	}
	eng := g.engine(db, reg)
	var target map[string]string
	if g.cluster.needed(pb, run.Target) {
		if target, eng.Lock, err = g.cluster.connect(c.Context); err != nil {
			return err
		}
	}
	out, err := eng.Rollback(c.Context, workflow.ResumeRequest{RunID: o.runID, Playbook: pb, Set: o.set, File: o.file, Force: o.force, Target: target})
	g.progress.stop()
	reportOutcome(g.stdout, out)
	return err
}
