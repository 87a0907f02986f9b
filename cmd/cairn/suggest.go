package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// unknownCommand is the action of cairn and of a command with subcommands:
// with no argument it shows the help, with one it is a mistyped command.
func unknownCommand(c *cli.Context) error {
	root := c.Command == nil || c.Command.Name == c.App.Name
	if c.NArg() == 0 {
		if root {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
	cmds, path := c.App.Commands, "cairn"
	if !root {
		cmds, path = c.Command.Subcommands, "cairn "+c.Command.Name
	}
	var names []string
	for _, cmd := range cmds {
		if !cmd.Hidden {
			names = append(names, cmd.Names()...)
		}
	}
	typed := c.Args().First()
	msg := fmt.Sprintf("unknown command %q for %s", typed, path)
	if s := closest(typed, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return usagef("%s (see `%s --help`)", msg, path)
}

var flagErrRE = regexp.MustCompile(`^flag (provided but not defined|needs an argument): -(\S+)$`)

// flagError rewrites the flag package's errors with the flag as the user
// typed it (the package prints one dash whatever was typed) and, for an
// unknown flag, the closest one the command has.
func flagError(app *cli.App, inv invocation, args []string, err error) error {
	m := flagErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	typed := "-" + m[2]
	for _, a := range args[1:] {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == m[2] {
			typed, _, _ = strings.Cut(a, "=")
			break
		}
	}
	if m[1] == "needs an argument" {
		return usagef("flag %s needs a value", typed)
	}
	flags, path := app.Flags, "cairn"
	cmds := app.Commands
	for _, name := range inv.cmd {
		if c := findCommand(cmds, name); c != nil {
			flags, cmds, path = c.Flags, c.Subcommands, path+" "+name
		}
	}
	var names []string
	for _, f := range append(append([]cli.Flag(nil), flags...), app.Flags...) {
		names = append(names, f.Names()...)
	}
	msg := fmt.Sprintf("unknown flag %s for %s", typed, path)
	if s := closest(m[2], names); s != "" {
		dashes := "--"
		if len(s) == 1 {
			dashes = "-"
		}
		msg += fmt.Sprintf("; did you mean %s%s?", dashes, s)
	}
	return usagef("%s (see `%s --help`)", msg, path)
}

// closest is the candidate nearest to typed, if it is near enough to be a
// typo: at most a third of its letters edited, or typed is its prefix.
func closest(typed string, candidates []string) string {
	best, bestD := "", len(typed)/3+1
	for _, c := range candidates {
		if len(typed) >= 2 && len(c) > 1 && strings.HasPrefix(c, typed) {
			return c
		}
		if d := distance(typed, c); d < bestD || (d == bestD && best == "" && d <= 1) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the optimal string alignment distance: insertions, deletions,
// substitutions and swaps of two neighbours each cost one.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
