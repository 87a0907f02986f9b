package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/playbooks"
)

type playbooksShowOptions struct {
	ref      string
	raw      bool
	template bool
}

func newPlaybooksShowCommand() *cli.Command {
	return &cli.Command{
		Name:         "show",
		Usage:        "document a playbook: parameters, steps, checks and rollback",
		ArgsUsage:    "NAME|FILE",
		BashComplete: firstArg(playbookNames),
		Description: `   cairn playbooks show asm-asmcli-canary
   cairn playbooks show asm-asmcli-canary --raw > my-canary.yaml      a copy to adapt
   cairn playbooks show asm-asmcli-canary --params-template > p.yaml  then: cairn run asm-asmcli-canary --params-file p.yaml`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "raw", Usage: "print the playbook's YAML exactly as cairn runs it"},
			&cli.BoolFlag{Name: "params-template", Usage: "print a params file to fill in (for --params-file): required parameters empty, optional ones commented out at their default"},
		},
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &playbooksShowOptions{raw: c.Bool("raw"), template: c.Bool("params-template")}
			if o.raw && o.template {
				return usagef("--raw and --params-template print different things; give one")
			}
			if o.ref, err = oneArg(c, "NAME"); err != nil {
				return err
			}
			pb, origin, err := g.cfg.LoadPlaybook(o.ref)
			if err != nil {
				return err
			}
			switch {
			case o.raw:
				_, err = g.stdout.Write(pb.Source)
			case o.template:
				_, err = g.stdout.Write(playbooks.ParamsTemplate(pb, origin))
			default:
				describePlaybook(g.stdout, pb, origin)
			}
			return err
		},
	}
}

func describePlaybook(w io.Writer, pb *playbooks.Playbook, origin string) {
	fmt.Fprintf(w, "%s (%s)\n\n%s\n\nPARAMETERS\n", pb.Name, origin, strings.TrimSpace(pb.Description))
	tw := newTable(w)
	for _, p := range pb.Params {
		var attrs []string
		if p.Required {
			attrs = append(attrs, "required")
		}
		if p.Default != nil {
			attrs = append(attrs, fmt.Sprintf("default %v", p.Default))
		}
		if p.Secret {
			attrs = append(attrs, "secret")
		}
		if len(p.Enum) > 0 {
			attrs = append(attrs, "one of "+strings.Join(p.Enum, "|"))
		}
		if p.Pattern != nil {
			attrs = append(attrs, "matches "+p.Pattern.String())
		}
		row(tw, "  "+p.Name, p.Type, strings.Join(attrs, ", "), p.Description)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nSTEPS")
	var undo []string
	var group *playbooks.Group
	for i, s := range pb.Steps {
		indent := "      "
		if g := s.Group; g != nil {
			if g != group {
				fmt.Fprintf(w, "      group %s: %s\n", g.ID, g.Description)
				fmt.Fprintf(w, "        for each item (at most %d at once), the steps below in order, each after the previous one succeeded\n", g.MaxParallel)
				if g.When != nil {
					fmt.Fprintf(w, "        only when %s\n", g.When.Source)
				}
			}
			fmt.Fprintf(w, "  %2d.   %s [%s] %s\n", i+1, s.ID, s.Kind, s.Description)
			indent = "        "
		} else {
			fmt.Fprintf(w, "  %2d. %s [%s] %s\n", i+1, s.ID, s.Kind, s.Description)
			if s.Foreach != nil {
				fmt.Fprintf(w, "%sfor each item (at most %d at once)\n", indent, s.MaxParallel)
			}
		}
		group = s.Group
		if s.When != nil {
			fmt.Fprintf(w, "%sonly when %s\n", indent, s.When.Source)
		}
		if s.Check != nil {
			fmt.Fprintf(w, "%scheck: %s decides whether it is already done\n", indent, s.Check.Kind)
		}
		if s.Irreversible != "" {
			fmt.Fprintf(w, "%sIRREVERSIBLE: %s; once it has started, cairn rollback refuses\n", indent, s.Irreversible)
		}
		if s.Undo != nil {
			each := ""
			if s.Foreach != nil {
				each = ", for each item it did, newest first"
			}
			if s.Group != nil {
				each += " (item by item, in reverse, with group " + s.Group.ID + "'s other undos)"
			}
			if s.UndoFailed {
				each += ", also if it failed part way"
			}
			undo = append([]string{fmt.Sprintf("  undo %s with %s%s", s.ID, s.Undo.Kind, each)}, undo...)
		}
	}
	fmt.Fprintln(w, "\nROLLBACK (cairn rollback RUN, newest first)")
	if len(undo) == 0 {
		fmt.Fprintln(w, "  no step has an undo")
	}
	for _, u := range undo {
		fmt.Fprintln(w, u)
	}
}
