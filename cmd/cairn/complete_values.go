package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

// The completion scripts call cairn with the words typed so far and
// --generate-bash-completion; these functions answer with what may come
// next. They print nothing on error: a completion must never fail loudly.

// completeArgs completes the arguments of a command with values(c), or
// its flags when a flag is being typed (the scripts pass the word being
// typed only then, as urfave/cli's own scripts do).
func completeArgs(values func(c *cli.Context) []string) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		if n := len(os.Args); n > 2 && strings.HasPrefix(os.Args[n-2], "-") {
			cli.DefaultCompleteWithFlags(c.Command)(c)
			return
		}
		for _, v := range values(c) {
			fmt.Fprintln(c.App.Writer, v)
		}
	}
}

// firstArg offers values for the first argument only.
func firstArg(values func(c *cli.Context) []string) cli.BashCompleteFunc {
	return completeArgs(func(c *cli.Context) []string {
		if c.NArg() > 0 {
			return nil
		}
		return values(c)
	})
}

func playbookNames(*cli.Context) []string { return playbooks.BuiltinNames() }

// runIDs are the journal's newest runs, newest first, then @latest.
func runIDs(c *cli.Context) []string { return runIDsWith(c, action.RunFilter{Limit: 50}) }

func runIDsWith(c *cli.Context, f action.RunFilter) []string {
	g, err := newGlobals(c)
	if err != nil {
		return nil
	}
	sums, err := g.cfg.Runs(f)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(sums)+1)
	for _, s := range sums {
		out = append(out, s.Run.ID)
	}
	return append(out, action.LatestRun)
}

// approveArgs offers the runs waiting at a gate, then that run's waiting
// gates.
func approveArgs(c *cli.Context) []string {
	switch c.NArg() {
	case 0:
		return runIDsWith(c, action.RunFilter{Limit: 50, Statuses: []string{string(workflow.StatusWaiting)}})
	case 1:
		g, err := newGlobals(c)
		if err != nil {
			return nil
		}
		shown, err := g.cfg.Show(c.Args().First())
		if err != nil {
			return nil
		}
		var gates []string
		seen := map[string]bool{}
		for _, in := range shown.Instances {
			if in.Status == workflow.InstWaiting && !seen[in.Step] {
				seen[in.Step] = true
				gates = append(gates, in.Step)
			}
		}
		return gates
	}
	return nil
}

func shells(*cli.Context) []string { return []string{"bash", "zsh", "fish"} }
