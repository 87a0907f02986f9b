package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
)

func newJournalCommand() *cli.Command {
	return &cli.Command{
		Name:  "journal",
		Usage: "verify or export the journal",
		Subcommands: []*cli.Command{
			{
				Name:      "verify",
				Usage:     "check the hash chain of one run, or of every run",
				ArgsUsage: "[RUN]",
				Description: `Each event carries the hash of the one before it, and each run keeps the
hash of its last event, so a changed byte, a removed event or a truncated
run is found. Exits 3 if anything is wrong.`,
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					if c.NArg() > 1 {
						return usagef("journal verify takes at most one RUN")
					}
					return verifyJournal(g, c.Args().First())
				},
			},
			{
				Name:      "export",
				Usage:     "write a run's record and events as JSON lines",
				ArgsUsage: "RUN",
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					id, err := oneArg(c, "RUN")
					if err != nil {
						return err
					}
					db, err := g.openJournal(true)
					if err != nil {
						return err
					}
					defer db.Close()
					return db.Export(id, g.stdout)
				},
			},
		},
	}
}

func verifyJournal(g *globals, runID string) error {
	db, err := g.openJournal(true)
	if err != nil {
		return err
	}
	defer db.Close()
	ids := []string{runID}
	if runID == "" {
		sums, err := db.Runs(0)
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, s := range sums {
			ids = append(ids, s.Run.ID)
		}
	}
	bad := 0
	for _, id := range ids {
		if err := db.Verify(id); err != nil {
			if !errors.Is(err, journal.ErrTampered) {
				return err
			}
			bad++
			fmt.Fprintf(g.stdout, "%s: FAILED\n  %v\n", id, err)
			continue
		}
		fmt.Fprintf(g.stdout, "%s: ok\n", id)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d runs in %s failed verification: %w", bad, len(ids), db.Path(), journal.ErrTampered)
	}
	return nil
}
