package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/workflow/action"
)

type resumeOptions struct {
	action.ResumeOptions
	plan   bool
	output string
}

func newResumeCommand() *cli.Command {
	return &cli.Command{
		Name:         "resume",
		Usage:        "continue a run where it stopped",
		ArgsUsage:    "[RUN]",
		BashComplete: firstArg(runIDs),
		Description: `With no RUN, resumes the newest run that is not finished. Instances whose
success is journaled are never run again; one that was started but not
finished is re-checked (its check, or its kind's own) and re-run only if its
effect is not in place. Secret parameters are never journaled: give them
again. A changed playbook text, changed parameters or a different cluster
are refused unless --force, which is journaled. A different cluster
is one with another server URL or kube-system UID; reaching the same cluster
through another kubeconfig context is fine. Without --context, resume uses
the kubeconfig context that reaches the run's cluster, not the current one,
so a run started with --context b goes on in b (and the tools its steps run
get a kubeconfig for b). Like run, resume holds the cluster lock while it
works (see cairn run --help).

   cairn resume --plan      what would be skipped, re-checked and re-run
   cairn resume 20261122-101500-3fa2c1 --param-from-file token=token.txt

` + paramsHelp + "\n\n" + runRefHelp,
		Flags: append(append(paramFlags(), clusterFlags()...),
			&cli.BoolFlag{Name: "plan", Usage: "print what resume would skip, re-check and re-run, and do nothing"},
			&cli.BoolFlag{Name: "force", Usage: "resume even if the playbook, parameters or cluster changed (journaled)"},
			&cli.BoolFlag{Name: "from-cluster", Usage: "import the run from its journal mirror in the cluster first, if this journal does not have it (no RUN: the newest unfinished run there)"},
			waitLockFlag(),
			outputFlag(),
		),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &resumeOptions{plan: c.Bool("plan"), output: c.String("output")}
			o.Force, o.FromCluster, o.WaitLock = c.Bool("force"), c.Bool("from-cluster"), c.Bool("wait-lock")
			if c.NArg() > 1 {
				return usagef("resume takes at most one RUN argument, got %d", c.NArg())
			}
			o.RunID = c.Args().First()
			if o.Params, err = readParams(c); err != nil {
				return err
			}
			if err := checkOutput(o.output); err != nil {
				return err
			}
			return o.run(c, g)
		},
	}
}

func (o *resumeOptions) run(c *cli.Context, g *globals) error {
	if o.plan {
		id, planned, err := g.cfg.ResumePlan(o.ResumeOptions)
		if err != nil {
			return err
		}
		if o.output == "table" {
			fmt.Fprintf(g.stdout, "run %s\n", id)
			for _, d := range planned.Forced {
				fmt.Fprintf(g.stdout, "--force overrides: %s\n", d)
			}
		}
		return printPlan(g.stdout, o.output, planned.Entries)
	}
	out, err := g.cfg.Resume(c.Context, o.ResumeOptions)
	g.progress.stop()
	reportOutcome(g.stdout, out)
	return err
}
