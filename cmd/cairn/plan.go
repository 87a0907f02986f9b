package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow"
)

type planOptions struct {
	playbook string
	output   string
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
as placeholders, and outputs of earlier steps as <steps.ID.NAME>.`,
		Flags: append(paramFlags(), outputFlag()),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &planOptions{output: c.String("output")}
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if o.playbook, err = oneArg(c, "PLAYBOOK"); err != nil {
				return err
			}
			if o.set, o.file, err = readParams(c); err != nil {
				return err
			}
			return o.run(g)
		},
	}
}

func (o *planOptions) run(g *globals) error {
	pb, _, err := loadPlaybook(o.playbook, g.registry())
	if err != nil {
		return err
	}
	vals, err := playbooks.Resolve(pb, o.set, o.file)
	if err != nil {
		return usageError{fmt.Errorf("parameters of %s:\n%w", pb.Name, err)}
	}
	return printPlan(g.stdout, o.output, workflow.Plan(pb, vals))
}

func printPlan(w io.Writer, format string, entries []workflow.PlanEntry) error {
	if format != "table" {
		return printData(w, format, entries)
	}
	tw := newTable(w)
	row(tw, "#", "INSTANCE", "KIND", "ACTION", "UNDO", "WHY / PARAMS")
	for i, e := range entries {
		undo := e.Undo
		if undo == "" {
			undo = "-"
		}
		detail := e.Reason
		if detail == "" {
			detail = e.Params
		}
		row(tw, i+1, workflow.Key(e.Step, e.Item), e.Kind, e.Action, undo, firstLine(detail))
	}
	return tw.Flush()
}
