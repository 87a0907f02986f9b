package main

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/runlog"
	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

type logsOptions struct {
	req        action.LogsRequest
	timestamps bool
}

func newLogsCommand() *cli.Command {
	return &cli.Command{
		Name:         "logs",
		Usage:        "show the output of a run's exec steps (and their undo and check actions), every attempt, while the run goes on or after it",
		ArgsUsage:    "RUN [STEP|STEP[ITEM]]",
		BashComplete: firstArg(runIDs),
		Description: `The whole output of every attempt of an exec step is kept beside the
journal (JOURNAL.d/logs/RUN/STEP[ITEM].ATTEMPT.log, private to you), secrets
redacted before anything is written. So is the output of an exec undo that
rollback runs (STEP[ITEM].undo.N.log, one per rollback that ran it) and of
an exec check that resume runs to ask whether an unfinished step's effect
is in place (STEP[ITEM].check.N.log). stdout and stderr are interleaved in
the order they arrived; --timestamps shows, for each line, when it came and
from which stream. Each attempt starts with a line "==> STEP attempt N
(OUTCOME) <==", or "==> STEP undo attempt N (OUTCOME) <==" and "==> STEP
check attempt N (in place|not in place) <==". A finished attempt's file is
checked against the sha256 the journal recorded, with a warning if it
changed.

The journal is only read, so this works from another terminal while the run
(or its rollback) goes on. With -f, cairn keeps reading the running attempt
and the ones that start after it, until the run or rollback (or, for
STEP[ITEM], that instance) stops.

   cairn logs RUN                      every attempt of every exec step, its
                                       undo's and check's too, in journal order
   cairn logs RUN STEP                 one step (each item of a foreach step)
   cairn logs @latest STEP -f          follow the newest run's step as it runs
   cairn logs RUN STEP --attempt 1     the step's first attempt only (no undo
                                       or check output)
   cairn logs RUN --timestamps

` + runRefHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep reading while the run goes on"},
			&cli.IntFlag{Name: "attempt", Usage: "only the step's attempt `N` (1 is the first), without undo or check output"},
			&cli.BoolFlag{Name: "timestamps", Usage: "prefix each line with when it came (UTC) and its stream"},
		},
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o, err := newLogsOptions(c)
			if err != nil {
				return err
			}
			return o.run(c, g)
		},
	}
}

func newLogsOptions(c *cli.Context) (*logsOptions, error) {
	if c.NArg() < 1 || c.NArg() > 2 {
		return nil, usagef("logs expects RUN and an optional STEP, got %d arguments (see `cairn logs --help`)", c.NArg())
	}
	o := &logsOptions{timestamps: c.Bool("timestamps"), req: action.LogsRequest{
		Run: c.Args().Get(0), Step: c.Args().Get(1), Follow: c.Bool("follow"), Attempt: c.Int("attempt")}}
	if o.req.Attempt < 0 || (c.IsSet("attempt") && o.req.Attempt == 0) {
		return nil, usagef("--attempt %d: attempts count from 1", o.req.Attempt)
	}
	return o, nil
}

func (o *logsOptions) run(c *cli.Context, g *globals) error {
	w := g.stdout
	var werr error
	sink := action.LogSink{
		Begin: func(a action.LogAttempt) {
			outcome := a.Outcome
			if outcome == "" {
				outcome = "running, or stopped before it finished"
			}
			fmt.Fprintf(w, "==> %s %s (%s) <==\n", workflow.Key(a.Step, a.Item), a.Name(), outcome)
		},
		Line: func(_ action.LogAttempt, e runlog.Entry) error {
			if o.timestamps && e.Time != "" {
				_, werr = fmt.Fprintf(w, "%s %s %s\n", e.Time, e.Stream, e.Text)
			} else {
				_, werr = io.WriteString(w, e.Text+"\n")
			}
			return werr
		},
		Problem: func(a action.LogAttempt, msg string) {
			l := g.cfg.Log.Warn().Str("run", a.RunID).Str("step", workflow.Key(a.Step, a.Item))
			if a.Phase != "" {
				l = l.Str("phase", a.Phase)
			}
			l.Int("attempt", a.N).Msg(msg)
		},
	}
	o.req.Poll = 250 * time.Millisecond
	return g.cfg.Logs(c.Context, o.req, sink)
}
