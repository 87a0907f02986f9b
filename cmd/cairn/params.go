package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/workflow/action"
)

// paramsHelp is how parameters are given, for the commands that take them.
const paramsHelp = `PARAMETERS come from -p NAME=VALUE, --param-from-file NAME=FILE (the
file's content, one trailing newline dropped), --param-from-env NAME=VAR
(the environment variable's value), then --params-file FILE (YAML), then the
playbook's defaults, in that order of precedence. Give secrets with
--param-from-file or --param-from-env: a -p value is kept in the shell's
history and shown in /proc/PID/cmdline to every user of the machine.`

func paramFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "param", Aliases: []string{"p"}, Usage: "set a parameter, `NAME=VALUE` (repeatable; lists are comma-separated)"},
		&cli.StringSliceFlag{Name: "param-from-file", Usage: "set a parameter to a file's content, `NAME=FILE` (repeatable; for secrets)"},
		&cli.StringSliceFlag{Name: "param-from-env", Usage: "set a parameter to an environment variable's value, `NAME=VAR` (repeatable; for secrets)"},
		&cli.StringFlag{Name: "params-file", Usage: "read parameters from a YAML `FILE` of NAME: VALUE (the flags above win over it)"},
	}
}

func readParams(c *cli.Context) (action.Params, error) {
	set := map[string]string{}
	from := map[string]string{} // NAME -> the flag that gave it
	add := func(flag, kv string, value func(string) (string, error)) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return usagef("%s %q: expected NAME=%s", flag, kv, map[string]string{"-p": "VALUE", "--param-from-file": "FILE", "--param-from-env": "VAR"}[flag])
		}
		if prev, ok := from[k]; ok && prev != flag {
			return usagef("parameter %s is given by both %s and %s: give it once", k, prev, flag)
		}
		val, err := value(v)
		if err != nil {
			return err
		}
		set[k], from[k] = val, flag
		return nil
	}
	for _, kv := range c.StringSlice("param") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return action.Params{}, usagef("-p %q: expected NAME=VALUE", kv)
		}
		set[k], from[k] = v, "-p"
	}
	for _, kv := range c.StringSlice("param-from-file") {
		if err := add("--param-from-file", kv, readParamFile); err != nil {
			return action.Params{}, err
		}
	}
	for _, kv := range c.StringSlice("param-from-env") {
		if err := add("--param-from-env", kv, func(name string) (string, error) {
			v, ok := os.LookupEnv(name)
			if !ok {
				return "", usagef("--param-from-env %s: environment variable %s is not set", kv, name)
			}
			return v, nil
		}); err != nil {
			return action.Params{}, err
		}
	}
	p := action.Params{Set: set}
	if path := c.String("params-file"); path != "" {
		f, err := playbooks.ParseParamsFile(path)
		if err != nil {
			return action.Params{}, usageError{err}
		}
		p.File = f
	}
	return p, nil
}

// readParamFile reads a parameter's value from a file, as a secret is kept
// (by kubectl create secret --from-file, or an editor): one trailing newline
// is not part of it.
func readParamFile(path string) (string, error) {
	b, err := playbooks.ReadInput(path)
	if err != nil {
		return "", usageError{fmt.Errorf("--param-from-file: %w", err)}
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}
