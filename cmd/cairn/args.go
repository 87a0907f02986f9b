package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a command's flags ahead of its positional arguments.
// urfave/cli v2 stops reading flags at the first argument, but people type
// `cairn run demo -p a=b`; without this, -p would be taken as a playbook.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	global := []string{args[0]}
	rest := args[1:]
	// Global flags up to the command name.
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		n := flagWidth(app.Flags, rest)
		global, rest = append(global, rest[:n]...), rest[n:]
	}
	var out []string
	cmds := app.Commands
	var flags []cli.Flag
	for len(rest) > 0 {
		c := findCommand(cmds, rest[0])
		if c == nil {
			break
		}
		out, rest = append(out, rest[0]), rest[1:]
		flags, cmds = c.Flags, c.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var pos []string
	for len(rest) > 0 {
		switch a := rest[0]; {
		case a == "--":
			pos = append(pos, rest...)
			rest = nil
		case strings.HasPrefix(a, "-") && a != "-" && !hasFlag(flags, a) && hasFlag(app.Flags, a):
			// A global flag typed after the command goes back in front.
			n := flagWidth(app.Flags, rest)
			global, rest = append(global, rest[:n]...), rest[n:]
		case strings.HasPrefix(a, "-") && a != "-":
			n := flagWidth(flags, rest)
			out, rest = append(out, rest[:n]...), rest[n:]
		default:
			pos, rest = append(pos, a), rest[1:]
		}
	}
	return append(append(global, out...), pos...)
}

func hasFlag(flags []cli.Flag, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// flagWidth tells how many tokens the flag at args[0] takes: one for a bool
// flag or --name=value, two for a flag followed by its value.
func flagWidth(flags []cli.Flag, args []string) int {
	_, _, hasValue := strings.Cut(args[0], "=")
	if hasValue || len(args) < 2 || !hasFlag(flags, args[0]) {
		return 1
	}
	for _, f := range flags {
		if _, ok := f.(*cli.BoolFlag); ok && hasFlag([]cli.Flag{f}, args[0]) {
			return 1
		}
	}
	return 2
}
