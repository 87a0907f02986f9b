package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed puts what people type into the order urfave/cli v2 reads:
// global flags, the command path, its flags, then its arguments. urfave
// stops reading flags at the first argument, but people type
// `cairn run demo -p a=b`; without this, -p would be taken as a playbook.
// It also reads `cairn help CMD` as `cairn CMD --help`, and moves command
// flags typed before the command (`cairn --context x run demo`) after it.
// A flag that needs a value and is the last word is refused here: urfave
// would otherwise take the playbook name, moved behind it, as its value.
func interspersed(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 || args[len(args)-1] == completionFlag {
		// A completion request: urfave/cli wants it last, and the words
		// before it as typed, however incomplete.
		return args, nil
	}
	global := []string{args[0]}
	rest := args[1:]
	every := allFlags(app)
	var early []string // command flags typed before the command
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "-" && rest[0] != "--" {
		if err := needsValue(every, rest, "cairn"); err != nil {
			return nil, err
		}
		if hasFlag(app.Flags, rest[0]) {
			n := flagWidth(app.Flags, rest)
			global, rest = append(global, rest[:n]...), rest[n:]
			continue
		}
		n := flagWidth(every, rest)
		if !hasFlag(every, rest[0]) && n == 1 && len(rest) > 2 && !strings.Contains(rest[0], "=") &&
			findCommand(app.Commands, rest[1]) == nil && findCommand(app.Commands, rest[2]) != nil {
			n = 2 // a mistyped flag and its value, so that the command is found
		}
		early, rest = append(early, rest[:n]...), rest[n:]
	}
	help := false
	if len(rest) > 0 && rest[0] == "help" && findCommand(app.Commands, "help") == nil {
		help, rest = true, rest[1:]
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
	path := strings.Join(append([]string{"cairn"}, out...), " ")
	out = append(out, early...)
	// "cairn help rnu" is a mistyped command, as "cairn rnu" is.
	mistyped := len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && len(cmds) > 0
	if help && !mistyped {
		out = append(out, "--help")
	}
	var pos []string
	for len(rest) > 0 {
		switch a := rest[0]; {
		case a == "--":
			pos = append(pos, rest...)
			rest = nil
		case strings.HasPrefix(a, "-") && a != "-" && !hasFlag(flags, a) && hasFlag(app.Flags, a):
			// A global flag typed after the command goes back in front.
			if err := needsValue(app.Flags, rest, "cairn"); err != nil {
				return nil, err
			}
			n := flagWidth(app.Flags, rest)
			global, rest = append(global, rest[:n]...), rest[n:]
		case strings.HasPrefix(a, "-") && a != "-":
			if err := needsValue(flags, rest, path); err != nil {
				return nil, err
			}
			n := flagWidth(flags, rest)
			out, rest = append(out, rest[:n]...), rest[n:]
		default:
			pos, rest = append(pos, a), rest[1:]
		}
	}
	return append(append(global, out...), pos...), nil
}

// allFlags is every flag of every command, to tell how many words a command
// flag typed before its command takes.
func allFlags(app *cli.App) []cli.Flag {
	var out []cli.Flag
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			out = append(out, c.Flags...)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return out
}

// needsValue refuses a flag that takes a value but is the last word.
func needsValue(flags []cli.Flag, args []string, path string) error {
	if len(args) != 1 || strings.Contains(args[0], "=") || !hasFlag(flags, args[0]) || isBool(flags, args[0]) {
		return nil
	}
	return usagef("flag %s needs a value (see `%s --help`)", args[0], path)
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

func isBool(flags []cli.Flag, arg string) bool {
	for _, f := range flags {
		if _, ok := f.(*cli.BoolFlag); ok && hasFlag([]cli.Flag{f}, arg) {
			return true
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
	if hasValue || len(args) < 2 || !hasFlag(flags, args[0]) || isBool(flags, args[0]) {
		return 1
	}
	return 2
}

// completionFlag is the flag the completion scripts end their calls with.
const completionFlag = "--generate-bash-completion"
