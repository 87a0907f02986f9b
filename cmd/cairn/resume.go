package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/workflow"
)

type resumeOptions struct {
	runID  string
	plan   bool
	force  bool
	output string
	set    map[string]string
	file   map[string]any
}

func newResumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "continue a run where it stopped",
		ArgsUsage: "[RUN]",
		Description: `With no RUN, resumes the newest run that is not finished. Instances whose
success is journaled are never run again; one that was started but not
finished is re-checked (its check, or its kind's own) and re-run only if its
effect is not in place. Secret parameters are never journaled: pass them
again with -p. A changed playbook text, changed parameters or a different
cluster are refused unless --force, which is journaled. A different cluster
is one with another server URL or kube-system UID; reaching the same cluster
through another kubeconfig context is fine. Like run, resume holds the
cluster lock while it works (see cairn run --help).

   cairn resume --plan      what would be skipped, re-checked and re-run
   cairn resume 20261122-101500-3fa2c1 -p token=...`,
		Flags: append(append(paramFlags(), clusterFlags()...),
			&cli.BoolFlag{Name: "plan", Usage: "print what resume would skip, re-check and re-run, and do nothing"},
			&cli.BoolFlag{Name: "force", Usage: "resume even if the playbook, parameters or cluster changed (journaled)"},
			outputFlag(),
		),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &resumeOptions{plan: c.Bool("plan"), force: c.Bool("force"), output: c.String("output")}
			if c.NArg() > 1 {
				return usagef("resume takes at most one RUN argument, got %d", c.NArg())
			}
			o.runID = c.Args().First()
			if o.set, o.file, err = readParams(c); err != nil {
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
	db, err := g.openJournal(o.plan)
	if err != nil {
		return err
	}
	defer db.Close()
	if o.runID == "" {
		if o.runID, err = newestUnfinished(db); err != nil {
			return err
		}
	}
	run, pb, reg, err := g.trustedRun(db, o.runID)
	if err != nil {
		return err
	}
	eng := g.engine(db, reg)
	if o.plan {
		vals, err := workflow.ResumeValues(pb, run, o.set, o.file)
		if err != nil {
			return usageError{err}
		}
		entries, err := eng.ResumePlan(o.runID, pb, vals)
		if err != nil {
			return err
		}
		return printPlan(g.stdout, o.output, entries)
	}
	var target map[string]string
	if g.cluster.needed(pb, run.Target) {
		if target, eng.Lock, err = g.cluster.connect(c.Context); err != nil {
			return err
		}
	}
	g.log.Info().Str("run", o.runID).Str("playbook", run.Playbook).Msg("resuming")
	out, err := eng.Resume(c.Context, workflow.ResumeRequest{RunID: o.runID, Playbook: pb, Set: o.set, File: o.file, Force: o.force, Target: target})
	g.progress.stop()
	reportOutcome(g.stdout, out)
	return err
}

// newestUnfinished finds the run resume continues by default.
func newestUnfinished(db *journal.DB) (string, error) {
	var id string
	err := db.ScanRuns(func(s journal.RunSummary) bool {
		st := workflow.StatusOf(s.Last)
		if st.Finished() || st == workflow.StatusRollingBack || st == workflow.StatusRollbackFailed {
			return true
		}
		id = s.Run.ID
		return false
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("no unfinished run in %s; list runs with `cairn runs`: %w", db.Path(), workflow.ErrNotResumable)
	}
	return id, nil
}
