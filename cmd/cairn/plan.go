package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/workflow"
)

type planOptions struct {
	playbook string
	output   string
	diff     bool
	set      map[string]string
	file     map[string]any
}

func newPlanCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "show the steps a run would take, with parameters filled in; changes nothing",
		ArgsUsage: "PLAYBOOK",
		Description: `Expands foreach lists and renders each step's parameters. It opens no
journal and contacts no cluster; items that come from the cluster are shown
as placeholders, and outputs of earlier steps as <steps.ID.NAME>.

With --diff it connects to the cluster (--kubeconfig, --context) and shows,
for each kube.apply step, what a server-side dry-run apply would change.

   cairn plan ./upgrade.yaml -p newRev=asm-1140-0
   cairn plan ./upgrade.yaml --diff --kubeconfig ~/.kube/prod`,
		Flags: append(append(paramFlags(), outputFlag(),
			&cli.BoolFlag{Name: "diff", Usage: "show kube.apply changes through a server-side dry run (contacts the cluster)"}),
			clusterFlags()...),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &planOptions{output: c.String("output"), diff: c.Bool("diff")}
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if o.playbook, err = oneArg(c, "PLAYBOOK"); err != nil {
				return err
			}
			if o.set, o.file, err = readParams(c); err != nil {
				return err
			}
			return o.run(c, g)
		},
	}
}

func (o *planOptions) run(c *cli.Context, g *globals) error {
	pb, _, err := loadPlaybook(o.playbook, g.registry())
	if err != nil {
		return err
	}
	vals, err := playbooks.Resolve(pb, o.set, o.file)
	if err != nil {
		return usageError{fmt.Errorf("parameters of %s:\n%w", pb.Name, err)}
	}
	entries := workflow.Plan(pb, vals)
	if err := printPlan(g.stdout, o.output, entries); err != nil || !o.diff {
		return err
	}
	return o.printDiffs(c, g, entries)
}

// printDiffs dry-runs each kube.apply instance whose parameters could be
// rendered; one that needs an earlier step's output can only be diffed when
// the run gets there.
func (o *planOptions) printDiffs(c *cli.Context, g *globals, entries []workflow.PlanEntry) error {
	for _, e := range entries {
		if e.Kind != "kube.apply" {
			continue
		}
		title := workflow.Key(e.Step, e.Item)
		if strings.Contains(e.Params, "<steps.") {
			fmt.Fprintf(g.stdout, "\n--- %s: depends on outputs of earlier steps; no diff before the run\n", title)
			continue
		}
		var p kube.ApplyParams
		if err := json.Unmarshal([]byte(e.Params), &p); err != nil {
			return fmt.Errorf("plan --diff %s: %w", title, err)
		}
		cl, err := g.cluster.clients()
		if err != nil {
			return err
		}
		d, err := kube.ApplyDiff(c.Context, cl, &p)
		if err != nil {
			return fmt.Errorf("plan --diff %s: %w", title, err)
		}
		fmt.Fprintf(g.stdout, "\n--- %s (server-side dry run)\n%s\n", title, strings.TrimRight(d, "\n"))
	}
	return nil
}

func printPlan(w io.Writer, format string, entries []workflow.PlanEntry) error {
	if format != "table" {
		return printData(w, format, entries)
	}
	tw := newTable(w)
	row(tw, "#", "INSTANCE", "KIND", "ACTION", "UNDO", "WHY / PARAMS")
	lastGroup := ""
	for i, e := range entries {
		// A group runs item-major: head each item's run of its steps.
		instance := workflow.Key(e.Step, e.Item)
		if e.Group != "" {
			if g := workflow.Key(e.Group, e.Item); g != lastGroup {
				row(tw, "", "group "+g, "-", "-", "-", "the steps below run in order for this item")
				lastGroup = g
			}
			instance = "  " + instance
		} else {
			lastGroup = ""
		}
		undo := e.Undo
		if undo == "" {
			undo = "-"
		}
		// The reason is why resume acts as it does: never cut it short.
		// Params are only a reminder; -o json has them whole.
		detail := strings.Join(strings.Fields(e.Reason), " ")
		if detail == "" {
			detail = firstLine(e.Params)
		}
		row(tw, i+1, instance, e.Kind, e.Action, undo, detail)
	}
	return tw.Flush()
}
