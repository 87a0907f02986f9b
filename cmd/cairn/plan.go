package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

type planOptions struct {
	action.PlanOptions
	output string
}

func newPlanCommand() *cli.Command {
	return &cli.Command{
		Name:         "plan",
		Usage:        "show the steps a run would take, with parameters filled in; changes nothing",
		ArgsUsage:    "PLAYBOOK",
		BashComplete: firstArg(playbookNames),
		Description: `Expands foreach lists and renders each step's parameters. It opens no
journal and contacts no cluster; items that come from the cluster are shown
as placeholders, and outputs of earlier steps as <steps.ID.NAME>.

With --diff it connects to the cluster (--kubeconfig, --context) and shows,
for each kube.apply step, what a server-side dry-run apply would change.

   cairn plan ./upgrade.yaml -p newRev=asm-1140-0
   cairn plan ./upgrade.yaml --diff --kubeconfig ~/.kube/prod

` + paramsHelp,
		Flags: append(append(paramFlags(), outputFlag(),
			&cli.BoolFlag{Name: "diff", Usage: "show kube.apply changes through a server-side dry run (contacts the cluster)"}),
			clusterFlags()...),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &planOptions{output: c.String("output")}
			o.Diff = c.Bool("diff")
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if o.Playbook, err = oneArg(c, "PLAYBOOK"); err != nil {
				return err
			}
			if o.Params, err = readParams(c); err != nil {
				return err
			}
			return o.run(c, g)
		},
	}
}

func (o *planOptions) run(c *cli.Context, g *globals) error {
	p, err := g.cfg.Plan(c.Context, o.PlanOptions)
	if p == nil {
		return err
	}
	if perr := printPlan(g.stdout, o.output, p.Entries); perr != nil {
		return perr
	}
	for _, d := range p.Diffs {
		if d.Pending {
			fmt.Fprintf(g.stdout, "\n--- %s: depends on outputs of earlier steps; no diff before the run\n", d.Instance)
			continue
		}
		fmt.Fprintf(g.stdout, "\n--- %s (server-side dry run)\n%s\n", d.Instance, strings.TrimRight(d.Text, "\n"))
	}
	return err
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
		switch {
		case e.Irreversible != "":
			undo = "IRREVERSIBLE"
		case undo == "":
			undo = "-"
		}
		// The reason is why resume acts as it does: never cut it short.
		// Params are only a reminder; -o json has them whole.
		detail := strings.Join(strings.Fields(e.Reason), " ")
		if detail == "" {
			detail = firstLine(string(e.Params))
		}
		row(tw, i+1, instance, e.Kind, e.Action, undo, detail)
	}
	return tw.Flush()
}
