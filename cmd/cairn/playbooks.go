package main

import (
	"fmt"
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
   cairn playbooks kinds         the step kinds a playbook can use
   cairn playbooks schema        a JSON Schema of playbooks, for editors`,
		Flags: []cli.Flag{outputFlag()},
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("unknown argument %q; did you mean `cairn playbooks show %s`?", c.Args().First(), c.Args().First())
			}
			if err := checkOutput(c.String("output")); err != nil {
				return err
			}
			rows, err := builtinRows(g)
			if err != nil {
				return err
			}
			if c.String("output") != "table" {
				return printData(g.stdout, c.String("output"), rows)
			}
			tw := newTable(g.stdout)
			row(tw, "NAME", "STEPS", "DESCRIPTION")
			for _, r := range rows {
				desc := r.Summary
				if r.Demo {
					desc = "(demo, to try cairn) " + desc
				}
				row(tw, r.Name, r.Steps, desc)
			}
			return tw.Flush()
		},
		Subcommands: []*cli.Command{
			newPlaybooksShowCommand(),
			{
				Name:  "schema",
				Usage: "print the JSON Schema of cairn/v1 playbooks, for editors",
				Description: `The schema is built from the same Go types the loader decodes step kinds
into, so an editor completes and checks what cairn accepts; cairn validate
checks more (references, step ids, secrets). With the YAML language server
(VS Code, Neovim), save it and name it at the top of a playbook:

   cairn playbooks schema > ~/.config/cairn/cairn-v1.schema.json
   # yaml-language-server: $schema=/home/me/.config/cairn/cairn-v1.schema.json`,
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					b, err := playbooks.Schema(g.cfg.Registry())
					if err != nil {
						return err
					}
					_, err = g.stdout.Write(b)
					return err
				},
			},
			{
				Name:  "kinds",
				Usage: "list the step kinds",
				Flags: []cli.Flag{outputFlag()},
				Action: func(c *cli.Context) error {
					g, err := newGlobals(c)
					if err != nil {
						return err
					}
					if err := checkOutput(c.String("output")); err != nil {
						return err
					}
					var rows []kindRow
					for _, k := range g.cfg.Registry().Kinds() {
						rows = append(rows, kindRow{Name: k.Name, Summary: k.Summary, NeedsCluster: k.NeedsCluster, ReadOnly: k.ReadOnly})
					}
					if c.String("output") != "table" {
						return printData(g.stdout, c.String("output"), rows)
					}
					tw := newTable(g.stdout)
					row(tw, "KIND", "SUMMARY")
					for _, k := range rows {
						row(tw, k.Name, k.Summary)
					}
					return tw.Flush()
				},
			},
		},
	}
}

type playbookRow struct {
	Name    string `json:"name" yaml:"name"`
	Steps   int    `json:"steps" yaml:"steps"`
	Summary string `json:"summary" yaml:"summary"`
	Demo    bool   `json:"demo,omitempty" yaml:"demo,omitempty"`
}

type kindRow struct {
	Name         string `json:"name" yaml:"name"`
	Summary      string `json:"summary" yaml:"summary"`
	NeedsCluster bool   `json:"needsCluster" yaml:"needsCluster"`
	ReadOnly     bool   `json:"readOnly" yaml:"readOnly"`
}

// builtinRows lists the upgrade procedures, then the demo, marked as one.
// Each is loaded from its embedded text: a file or directory of the same
// name in the current directory (say a demo workdir called demo) is not a
// built-in.
func builtinRows(g *globals) ([]playbookRow, error) {
	names := slices.DeleteFunc(playbooks.BuiltinNames(), func(n string) bool { return n == demoPlaybook })
	var rows []playbookRow
	for _, name := range append(names, demoPlaybook) {
		src, _ := playbooks.Builtin(name)
		pb, err := playbooks.Load("builtin:"+name, src, g.cfg.Registry())
		if err != nil {
			return nil, fmt.Errorf("built-in playbook %s is invalid (a bug in cairn): %w", name, err)
		}
		rows = append(rows, playbookRow{Name: name, Steps: len(pb.Steps), Summary: summary(pb.Description), Demo: name == demoPlaybook})
	}
	return rows, nil
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
