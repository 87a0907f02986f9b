package main

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow/action"
)

// globals is what every command derives from the global flags: the action
// configuration, and where and how output goes.
type globals struct {
	cfg    *action.Config
	stdout io.Writer
	stderr io.Writer
	// status is the live status line on a terminal, nil otherwise; logs are
	// written through it so that they do not mangle it.
	status   *statusLine
	progress *progress
}

func newGlobals(c *cli.Context) (*globals, error) {
	g := &globals{stdout: c.App.Writer, stderr: c.App.ErrWriter}
	level, err := zerolog.ParseLevel(c.String("log-level"))
	if err != nil || level == zerolog.NoLevel {
		return nil, usagef("--log-level %q: use debug, info, warn or error", c.String("log-level"))
	}
	if d := c.Duration("request-timeout"); d < 0 {
		return nil, usagef("--request-timeout %s: give a positive duration, e.g. 10s", d)
	}
	term := terminalOf(g.stderr, os.Getenv)
	var out io.Writer = g.stderr
	if term.statusLine {
		g.status = newStatusLine(g.stderr)
		out = g.status
	}
	var w io.Writer
	switch c.String("log-format") {
	case "json":
		w = out
	case "console":
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !term.color}
	case "auto":
		w = out
		if term.tty {
			w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !term.color}
		}
	default:
		return nil, usagef("--log-format %q: use console, json or auto", c.String("log-format"))
	}
	// Exec output arrives from a stdout and a stderr goroutine at once, and
	// progress from several items: one line at a time, whatever the writer.
	log := zerolog.New(zerolog.SyncWriter(w)).Level(level).With().Timestamp().Logger()
	g.progress = newProgress(log, g.status)
	// A JSON line stands alone (shipped, grepped, mixed with other runs'),
	// so it names its run; a terminal shows one run, named when it starts.
	g.progress.tagRun = w == out
	g.cfg = &action.Config{
		JournalPath: c.String("journal"),
		Log:         log,
		Version:     cairnVersion(),
		Cluster: &cluster.Access{
			Source:        cluster.Source{Kubeconfig: c.String("kubeconfig"), Context: c.String("context")},
			LockNamespace: c.String("lock-namespace"),
			Timeout:       c.Duration("request-timeout"),
			Log:           log,
		},
		OnUpdate:   withFailpoint(g.progress.update),
		OnProgress: g.progress.step,
		OnOutput:   g.progress.output,
	}
	g.cfg.User, g.cfg.Host = action.Identity()
	return g, nil
}

// terminal is what stderr can show: escape codes only on a terminal that
// understands them (not TERM=dumb, as in Emacs shells and some CI
// consoles), and colours only where NO_COLOR (no-color.org) is unset.
type terminal struct {
	tty        bool // a person reads it: console logs by default
	statusLine bool // a line rewritten in place, with \r and an erase code
	color      bool
}

func terminalOf(w io.Writer, getenv func(string) string) terminal {
	if !isTerminal(w) {
		return terminal{}
	}
	capable := getenv("TERM") != "dumb"
	return terminal{tty: true, statusLine: capable, color: capable && getenv("NO_COLOR") == ""}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func clusterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILE` (default $KUBECONFIG, then ~/.kube/config)"},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig `CONTEXT` to use (default: the current context)"},
		&cli.DurationFlag{Name: "request-timeout", Value: cluster.DefaultTimeout,
			Usage: "how long to keep trying to reach the cluster (`DURATION`, e.g. 10s) before giving up with exit 5"},
		&cli.StringFlag{Name: "lock-namespace", Value: cluster.DefaultLockNamespace,
			Usage: "`NAMESPACE` of the Lease (" + cluster.DefaultLockName + ") that keeps two runs off one cluster; every cairn against the cluster must use the same"},
	}
}

// waitLockFlag makes a held cluster lock a wait instead of a refusal.
func waitLockFlag() cli.Flag {
	return &cli.BoolFlag{Name: "wait-lock", Usage: "if another cairn holds the cluster lock, wait until it is released, or stale (its holder died), instead of exiting 4"}
}

// clusterReadFlags are the flags of an audit command that can read a run
// from the journal mirror in the cluster instead of the local journal.
func clusterReadFlags() []cli.Flag {
	return append([]cli.Flag{&cli.BoolFlag{Name: "cluster",
		Usage: "read the run from its journal mirror in the cluster (configmaps in --lock-namespace), not the local journal"}},
		clusterFlags()...)
}

// oneArg returns the single argument or a usage error.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usagef("%s expects exactly one %s argument, got %d (see `cairn %s --help`)", c.Command.Name, what, c.NArg(), c.Command.Name)
	}
	return c.Args().First(), nil
}

// runRefHelp ends the help of every command that takes a RUN.
const runRefHelp = `RUN is a run id as cairn runs lists it, a prefix of exactly one run's id
(ids begin with the UTC time the run started: 20261203-0915), or @latest
for the newest run.`
