package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

type runOptions struct {
	playbook string
	params   action.Params
	noMirror bool
	waitLock bool
}

func newRunCommand() *cli.Command {
	return &cli.Command{
		Name:         "run",
		Usage:        "start a run of a playbook",
		ArgsUsage:    "PLAYBOOK",
		BashComplete: firstArg(playbookNames),
		Description: `PLAYBOOK is a file, or the name of a built-in playbook (cairn playbooks).
Each step's start and end are journaled. If the run stops (a crash, a signal,
a failed step), "cairn resume" continues it. A gate step pauses the run and
exits 0; "cairn approve" then "cairn resume" let it go on.

If the playbook has a Kubernetes step (kube.*, istio.*), or --kubeconfig or
--context is given, cairn connects first and records the cluster (context,
server, kube-system UID) with the run; resume and rollback refuse another
cluster. While its steps run it holds a Lease (--lock-namespace/cairn-lock):
a second cairn against the same cluster is refused (exit 4) with the name of
the holder; with --wait-lock it waits instead. A lease its holder stopped
renewing for 60s is taken over, and the takeover is journaled. The lease is
released when cairn exits or pauses.

   cairn run demo -p workdir=/tmp/demo -p pace=0s
   cairn run ./upgrade.yaml --params-file prod.yaml --kubeconfig ~/.kube/prod

` + paramsHelp,
		Flags: append(append(paramFlags(), clusterFlags()...),
			&cli.BoolFlag{Name: "no-mirror", Usage: "keep the run in the local journal only, not also in the cluster (journaled: resume keeps it so)"},
			waitLockFlag()),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &runOptions{noMirror: c.Bool("no-mirror"), waitLock: c.Bool("wait-lock")}
			if o.playbook, err = oneArg(c, "PLAYBOOK"); err != nil {
				return err
			}
			if o.params, err = readParams(c); err != nil {
				return err
			}
			return o.run(c, g)
		},
	}
}

func (o *runOptions) run(c *cli.Context, g *globals) error {
	out, err := g.cfg.Run(c.Context, action.RunOptions{Playbook: o.playbook, Params: o.params, NoMirror: o.noMirror, WaitLock: o.waitLock})
	g.progress.stop()
	reportOutcome(g.stdout, out)
	return err
}

// reportOutcome tells the operator what to do next, on stdout.
func reportOutcome(w io.Writer, out workflow.Outcome) {
	if out.RunID == "" {
		return
	}
	switch out.Status {
	case workflow.StatusSucceeded:
		fmt.Fprintf(w, "run %s succeeded; audit it with: cairn show %s (or cairn report %s, one HTML file)\n", out.RunID, out.RunID, out.RunID)
	case workflow.StatusRolledBack:
		fmt.Fprintf(w, "run %s rolled back; audit it with: cairn show %s (or cairn report %s, one HTML file)\n", out.RunID, out.RunID, out.RunID)
	case workflow.StatusWaiting:
		fmt.Fprintf(w, "run %s is waiting for approval:\n", out.RunID)
		for _, wt := range out.Waiting {
			item := ""
			if wt.Item != "" {
				item = " --item " + wt.Item
			}
			fmt.Fprintf(w, "  %s: %s\n  approve with: cairn approve %s %s%s --comment '...'\n", workflow.Key(wt.Step, wt.Item), wt.Message, out.RunID, wt.Step, item)
		}
		fmt.Fprintf(w, "then continue with: cairn resume %s   (or undo it: cairn rollback %s)\n", out.RunID, out.RunID)
	case workflow.StatusInterrupted, workflow.StatusRollingBack:
		fmt.Fprintf(w, "run %s stopped; continue with: cairn resume %s\n", out.RunID, out.RunID)
	case workflow.StatusFailed:
		fmt.Fprintf(w, "run %s failed; fix the cause, then: cairn resume %s   (details: cairn show %s; output: cairn logs %s)\n", out.RunID, out.RunID, out.RunID, out.RunID)
	case workflow.StatusRollbackFailed:
		fmt.Fprintf(w, "rollback of run %s failed; fix the cause, then: cairn rollback %s   (details: cairn show %s; output: cairn logs %s)\n", out.RunID, out.RunID, out.RunID, out.RunID)
	}
}
