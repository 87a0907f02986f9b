package main

import (
	"io"

	"github.com/urfave/cli/v2"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "cairn",
		Usage: "run Kubernetes and service-mesh upgrade playbooks that survive a crash",
		Description: `cairn runs a playbook (a built-in one, or a YAML file) step by step and
journals each step's start and completion in a local bbolt file before and
after its side effect. If the process dies, the laptop sleeps or the network
drops, "cairn resume" continues exactly where it stopped: nothing completed
runs twice, nothing is skipped. The journal is the audit record afterwards.

   cairn playbooks                          list the built-in playbooks
   cairn validate my-upgrade.yaml           check a playbook, all errors at once
   cairn plan demo -p workdir=/tmp/demo     show what would run, touching nothing
   cairn run demo -p workdir=/tmp/demo      start a run (demo needs no cluster)
   cairn resume                             continue the newest unfinished run
   cairn approve RUN STEP                   let a run waiting at a gate go on
   cairn show RUN                           the run's timeline, for the audit
   cairn logs RUN                           what its exec steps printed (STEP -f: follow one)
   cairn report RUN                         the audit report, one HTML file to hand over
   cairn help COMMAND                       a command's flags and examples

` + exitCodesHelp,
		Version:                   cairnVersion(),
		Writer:                    stdout,
		ErrWriter:                 stderr,
		EnableBashCompletion:      true,
		DisableSliceFlagSeparator: true,
		Suggest:                   true,
		HideHelpCommand:           true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError:              onUsageError,
		Action:                    unknownCommand,
		Flags:                     globalFlags(),
		Commands: []*cli.Command{
			newRunCommand(),
			newResumeCommand(),
			newApproveCommand(),
			newRollbackCommand(),
			newRunsCommand(),
			newShowCommand(),
			newLogsCommand(),
			newReportCommand(),
			newPlanCommand(),
			newValidateCommand(),
			newPlaybooksCommand(),
			newJournalCommand(),
			newCompletionCommand(),
			newVersionCommand(),
		},
	}
	for _, c := range app.Commands {
		setUsageErrors(c)
	}
	return app
}

func setUsageErrors(c *cli.Command) {
	c.OnUsageError = onUsageError
	if c.Action == nil && len(c.Subcommands) > 0 {
		c.Action = unknownCommand
	}
	for _, s := range c.Subcommands {
		setUsageErrors(s)
	}
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "journal", EnvVars: []string{"CAIRN_JOURNAL"}, Usage: "journal `FILE` (default $XDG_STATE_HOME/cairn/journal.db, else ~/.local/state/cairn/journal.db)"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "`LEVEL`: debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "`FORMAT`: console, json, or auto (console on a terminal, else json)"},
	}
}
