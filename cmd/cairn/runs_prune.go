package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

type pruneOptions struct {
	action.PruneOptions
}

func newRunsPruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove finished runs older than a duration",
		Description: `Removes the runs that finished (succeeded or rolled back) more than
DURATION ago, judged by their last event, from the journal, and with
--cluster also from the journal mirror in the cluster (the runs' configmaps
in --lock-namespace; that needs delete on configmaps there). A run that may
still go on is never removed: running, interrupted, failed,
waiting-approval, approved, rolling-back and rollback-failed runs stay,
whatever their age; so do damaged ones. The journal's runs are judged and
removed in one transaction. Prints each run removed.

   cairn runs prune --older-than 90d --dry-run     what would go
   cairn runs prune --older-than 90d --cluster     here and in the cluster
   cairn runs prune --older-than 36h

DURATION is a number of days (90d) or a Go duration (36h, 90m).`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "older-than", Usage: "remove runs finished more than `DURATION` ago (90d, 36h)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print what would be removed, remove nothing"},
			&cli.BoolFlag{Name: "cluster", Usage: "also remove them from the journal mirror in the cluster (configmaps in --lock-namespace)"},
		}, clusterFlags()...),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("runs prune takes no arguments, only flags (see `cairn runs prune --help`)")
			}
			if !c.IsSet("older-than") {
				return usagef("runs prune needs --older-than DURATION, e.g. --older-than 90d")
			}
			d, err := parseAge(c.String("older-than"))
			if err != nil {
				return usagef("--older-than %q: %v", c.String("older-than"), err)
			}
			o := &pruneOptions{action.PruneOptions{OlderThan: d, Cluster: c.Bool("cluster"), DryRun: c.Bool("dry-run")}}
			return o.run(c.Context, g)
		},
	}
}

// parseAge reads a number of days (90d, 1.5d) or a Go duration; it must
// be positive.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n > 1e5 {
			return 0, fmt.Errorf("give days as a number, e.g. 90d, or a duration such as 36h")
		}
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("give days (90d) or a duration (36h, 90m)")
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("give a positive age, e.g. 90d")
	}
	return d, nil
}

func (o *pruneOptions) run(ctx context.Context, g *globals) error {
	p, err := g.cfg.Prune(ctx, o.PruneOptions)
	verb := "removed"
	if o.DryRun {
		verb = "would remove"
	}
	// What was removed is printed even when a later removal failed.
	for _, s := range p.Local {
		fmt.Fprintf(g.stdout, "%s %s (%s %s, finished %s) from the journal\n", verb, s.Run.ID, s.Run.Playbook,
			workflow.StatusOf(s.Last), s.Last.Time.UTC().Format(time.RFC3339))
	}
	for _, r := range p.Cluster {
		fmt.Fprintf(g.stdout, "%s %s (%s %s, finished %s) from the cluster's journal mirror\n", verb, r.Run.ID, r.Run.Playbook,
			workflow.StatusOf(r.Last), r.Last.Time.UTC().Format(time.RFC3339))
	}
	if err == nil && len(p.Local)+len(p.Cluster) == 0 {
		fmt.Fprintf(g.stderr, "no finished run older than %s\n", o.OlderThan)
	}
	return err
}
