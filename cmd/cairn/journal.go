package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/workflow/action"
)

func newJournalCommand() *cli.Command {
	return &cli.Command{
		Name:  "journal",
		Usage: "verify or export the journal",
		Subcommands: []*cli.Command{
			{
				Name:         "verify",
				Usage:        "check the hash chain of one run, or of every run",
				ArgsUsage:    "[RUN]",
				BashComplete: firstArg(runIDs),
				Description: `Each event carries the hash of the one before it, and each run keeps the
hash of its last event, so a changed byte, a removed event or a truncated
run is found. For a run that verifies it prints the head: the hash of the
last event, which covers every event before it; write it down to compare
with a later copy of the journal. Exits 3 if anything is wrong.

With --cluster, each run that verifies and is kept in the journal mirror
of the cluster the kubeconfig reaches is also compared with its mirror:
the mirror's chain must hold, and this journal must be the same history
up to the mirror's head. A journal that lacks events the mirror has
(truncated, restored from an old copy, or the run went on from another
journal) or differs from it (forged) fails, naming both heads. A mirror
that is only behind this journal (cairn stopped between the local commit
and the cluster write; "cairn resume RUN" writes the rest) is reported
and does not fail. Runs not mirrored, or mirrored in another cluster, are
not compared. Exits 5 if the cluster cannot be reached.

   cairn journal verify --cluster @latest

` + runRefHelp,
				Flags: append([]cli.Flag{&cli.BoolFlag{Name: "cluster",
					Usage: "also compare each run with its journal mirror in the cluster (configmaps in --lock-namespace)"}},
					clusterFlags()...),
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					if c.NArg() > 1 {
						return usagef("journal verify takes at most one RUN")
					}
					return verifyJournal(c.Context, g, action.VerifyOptions{RunID: c.Args().First(), Cluster: c.Bool("cluster")})
				},
			},
			{
				Name:         "export",
				Usage:        "write a run's record and events as JSON lines",
				ArgsUsage:    "RUN",
				BashComplete: firstArg(runIDs),
				Description: `One JSON object per line: the run's record, then each event with its
hash, then the run's head.

` + runRefHelp,
				Flags: clusterReadFlags(),
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					id, err := oneArg(c, "RUN")
					if err != nil {
						return err
					}
					if c.Bool("cluster") {
						return g.cfg.ExportFromCluster(c.Context, id, g.stdout)
					}
					return g.cfg.Export(id, g.stdout)
				},
			},
		},
	}
}

func verifyJournal(ctx context.Context, g *globals, o action.VerifyOptions) error {
	results, err := g.cfg.Verify(ctx, o)
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range results {
		if r.Err != nil {
			bad++
			fmt.Fprintf(g.stdout, "%s: FAILED\n  %v\n", r.RunID, r.Err)
			continue
		}
		fmt.Fprintf(g.stdout, "%s: ok (%d events, head %s)\n", r.RunID, r.Head.Seq, r.Head.Hash)
		if r.Mirror != "" {
			fmt.Fprintf(g.stdout, "  mirror: %s\n", r.Mirror)
		}
	}
	if bad > 0 {
		return &verifyFailed{bad: bad, of: len(results)}
	}
	return nil
}

// verifyFailed is journal verify's outcome when a run does not verify.
type verifyFailed struct{ bad, of int }

func (e *verifyFailed) Error() string {
	return fmt.Sprintf("%d of %d runs failed verification", e.bad, e.of)
}

func (e *verifyFailed) Unwrap() error { return journal.ErrTampered }
