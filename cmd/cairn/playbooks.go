package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/playbooks"
)

// demoPlaybook is the built-in that shows what cairn does without a
// cluster; the others are upgrade procedures.
const demoPlaybook = "demo"

func newPlaybooksCommand() *cli.Command {
	return &cli.Command{
		Name:  "playbooks",
		Usage: "list the built-in playbooks, document one, or list step kinds",
		Description: `The built-ins are five upgrade procedures and demo, which rehearses a canary
upgrade on files and needs no cluster.

   cairn playbooks               the built-in playbooks
   cairn playbooks show NAME     a playbook's parameters, steps and rollback
   cairn playbooks kinds         the step kinds a playbook can use`,
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("unknown argument %q; did you mean `cairn playbooks show %s`?", c.Args().First(), c.Args().First())
			}
			tw := newTable(g.stdout)
			row(tw, "NAME", "STEPS", "DESCRIPTION")
			// The upgrade procedures, then the demo, marked as one.
			names := slices.DeleteFunc(playbooks.BuiltinNames(), func(n string) bool { return n == demoPlaybook })
			for _, name := range append(names, demoPlaybook) {
				pb, _, err := g.cfg.LoadPlaybook(name)
				if err != nil {
					return fmt.Errorf("built-in playbook %s is invalid (a bug in cairn): %w", name, err)
				}
				desc := summary(pb.Description)
				if name == demoPlaybook {
					desc = "(demo, to try cairn) " + desc
				}
				row(tw, name, len(pb.Steps), desc)
			}
			return tw.Flush()
		},
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "document a playbook: parameters, steps, checks and rollback",
				ArgsUsage: "NAME|FILE",
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					ref, err := oneArg(c, "NAME")
					if err != nil {
						return err
					}
					pb, origin, err := g.cfg.LoadPlaybook(ref)
					if err != nil {
						return err
					}
					describePlaybook(g.stdout, pb, origin)
					return nil
				},
			},
			{
				Name:  "kinds",
				Usage: "list the step kinds",
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					tw := newTable(g.stdout)
					row(tw, "KIND", "SUMMARY")
					for _, k := range g.cfg.Registry().Kinds() {
						row(tw, k.Name, k.Summary)
					}
					return tw.Flush()
				},
			},
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

// summary is a description's first sentence, unwrapped: YAML block text is
// wrapped at about 76 columns, so its first line is usually half a sentence.
func summary(desc string) string {
	para, _, _ := strings.Cut(strings.TrimSpace(desc), "\n\n")
	s := strings.Join(strings.Fields(para), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}
