package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow/action"
)

type runsOptions struct {
	output  string
	filter  action.RunFilter
	quiet   bool
	cluster bool
}

type runRow struct {
	ID       string            `json:"id" yaml:"id"`
	Playbook string            `json:"playbook" yaml:"playbook"`
	Status   string            `json:"status" yaml:"status"`
	Started  time.Time         `json:"started" yaml:"started"`
	Duration string            `json:"duration" yaml:"duration"`
	User     string            `json:"user" yaml:"user"`
	Target   map[string]string `json:"target,omitempty" yaml:"target,omitempty"`
	// Damage says why the run cannot be read whole; its status is "damaged".
	Damage string `json:"damage,omitempty" yaml:"damage,omitempty"`
}

func newRunsCommand() *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list the runs in the journal, newest first",
		Description: `A run is "running" while a cairn process works on it. One that was journaled
as running but that no process works on any more (killed, or its machine
lost) is shown as "interrupted", like one stopped by a signal: resume
continues it. Locally, a run is worked on while a process holds the
journal's writer lock; with --cluster, while it holds the cluster lock and
renews it.

   cairn runs --status waiting-approval         runs waiting at a gate
   cairn runs --status failed,interrupted -q    ids of runs to resume
   cairn runs --playbook asm-asmcli-canary --limit 5`,
		Flags: append([]cli.Flag{
			outputFlag(),
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "show at most `N` runs (0: all)"},
			&cli.StringSliceFlag{Name: "status", Usage: "only runs in `STATUS` (repeat or comma-separate): " + strings.Join(action.RunStatuses(), ", ")},
			&cli.StringFlag{Name: "playbook", Usage: "only runs of the playbook `NAME`"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only run ids, for scripts"},
		}, clusterReadFlags()...),
		Subcommands: []*cli.Command{newRunsPruneCommand()},
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &runsOptions{output: c.String("output"), quiet: c.Bool("quiet"), cluster: c.Bool("cluster"),
				filter: action.RunFilter{Limit: c.Int("limit"), Statuses: c.StringSlice("status"), Playbook: c.String("playbook")}}
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("runs takes no arguments; to see one run use `cairn show RUN`")
			}
			return o.run(c, g)
		},
	}
}

func (o *runsOptions) run(c *cli.Context, g *globals) error {
	sums, err := o.summaries(c, g)
	if err != nil {
		return err
	}
	rows := make([]runRow, 0, len(sums))
	for _, s := range sums {
		rows = append(rows, summaryRow(s))
	}
	if o.quiet {
		for _, r := range rows {
			fmt.Fprintln(g.stdout, r.ID)
		}
		return nil
	}
	if o.output != "table" {
		return printData(g.stdout, o.output, rows)
	}
	if len(rows) == 0 {
		// As kubectl's "No resources found": on stderr, so stdout stays a list.
		if o.cluster {
			fmt.Fprintf(g.stderr, "no runs in the cluster's journal mirror (namespace %s)\n", c.String("lock-namespace"))
			return nil
		}
		path, _ := g.cfg.JournalFile()
		if len(o.filter.Statuses) > 0 || o.filter.Playbook != "" {
			fmt.Fprintf(g.stderr, "no runs in journal %s match --status/--playbook\n", path)
			return nil
		}
		fmt.Fprintf(g.stderr, "no runs in journal %s\n", path)
		return nil
	}
	tw := newTable(g.stdout)
	row(tw, "RUN", "PLAYBOOK", "STATUS", "STARTED", "DURATION", "BY", "TARGET")
	for _, r := range rows {
		row(tw, r.ID, r.Playbook, r.Status, r.Started.Format("2006-01-02 15:04:05 UTC"), r.Duration, r.User, cluster.TargetString(r.Target))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Damage != "" {
			fmt.Fprintf(g.stdout, "\nrun %s is damaged: %s\n", r.ID, r.Damage)
		}
	}
	return nil
}

// summaries are the runs of the local journal, or of the cluster's mirror.
func (o *runsOptions) summaries(c *cli.Context, g *globals) ([]journal.RunSummary, error) {
	if !o.cluster {
		return g.cfg.Runs(o.filter)
	}
	if err := o.filter.Normalize(); err != nil {
		return nil, err
	}
	mirrored, err := g.cfg.RunsInCluster(c.Context)
	if err != nil {
		return nil, err
	}
	sums := make([]journal.RunSummary, 0, len(mirrored))
	for _, m := range mirrored {
		if o.filter.Limit > 0 && len(sums) == o.filter.Limit {
			break
		}
		if o.filter.Picks(m.RunSummary) {
			sums = append(sums, m.RunSummary)
		}
	}
	return sums, nil
}

func summaryRow(s journal.RunSummary) runRow {
	if s.Err != nil {
		return runRow{ID: s.Run.ID, Playbook: s.Run.Playbook, Status: "damaged", Started: s.Run.Started.UTC(),
			User: s.Run.User + "@" + s.Run.Host, Target: s.Run.Target, Damage: s.Err.Error()}
	}
	st := action.RunStatus(s)
	end := s.Last.Time
	if end.IsZero() {
		end = s.Run.Started
	}
	return runRow{ID: s.Run.ID, Playbook: s.Run.Playbook, Status: st, Started: s.Run.Started.UTC(),
		Duration: end.Sub(s.Run.Started).Round(time.Second).String(), User: s.Run.User + "@" + s.Run.Host, Target: s.Run.Target}
}

// kvString prints a map as sorted key=value pairs.
func kvString(t map[string]string) string {
	if len(t) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+t[k])
	}
	return strings.Join(parts, " ")
}
