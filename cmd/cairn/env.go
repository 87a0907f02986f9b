package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/workflow"
)

// globals holds what every command derives from the global flags.
type globals struct {
	journalPath string
	log         zerolog.Logger
	stdout      io.Writer
	stderr      io.Writer
	cluster     *clusterAccess
	// status is the live status line on a terminal, nil otherwise; logs are
	// written through it so that they do not mangle it.
	status   *statusLine
	progress *progress
}

func newGlobals(c *cli.Context) (*globals, error) {
	g := &globals{journalPath: c.String("journal"), stdout: c.App.Writer, stderr: c.App.ErrWriter}
	level, err := zerolog.ParseLevel(c.String("log-level"))
	if err != nil || level == zerolog.NoLevel {
		return nil, usagef("--log-level %q: use debug, info, warn or error", c.String("log-level"))
	}
	var out io.Writer = g.stderr
	if isTerminal(g.stderr) {
		g.status = newStatusLine(g.stderr)
		out = g.status
	}
	var w io.Writer
	switch c.String("log-format") {
	case "json":
		w = out
	case "console":
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !isTerminal(g.stderr)}
	case "auto":
		w = out
		if isTerminal(g.stderr) {
			w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
		}
	default:
		return nil, usagef("--log-format %q: use console, json or auto", c.String("log-format"))
	}
	g.log = zerolog.New(w).Level(level).With().Timestamp().Logger()
	g.cluster = newClusterAccess(c, g.log)
	return g, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func (g *globals) openJournal(readOnly bool) (*journal.DB, error) {
	path := g.journalPath
	if path == "" {
		p, err := journal.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return journal.Open(path, journal.Options{ReadOnly: readOnly})
}

// registry builds the step kinds. Cluster clients are made on first use only,
// so validate and plan never touch a cluster.
func (g *globals) registry() *steps.Registry {
	deps := steps.Deps{Logger: g.log, Now: time.Now, Cluster: g.cluster.clients}
	reg := steps.NewRegistry(deps)
	for _, k := range kube.Kinds(g.cluster.clients, deps) {
		mustRegister(reg.Add(k))
	}
	for _, k := range kube.Sources(g.cluster.clients, deps) {
		mustRegister(reg.AddSource(k))
	}
	return reg
}

// mustRegister panics on a name clash: the kinds are fixed at compile time,
// so a clash is a bug every command trips over at once.
func mustRegister(err error) {
	if err != nil {
		panic(err)
	}
}

// engine builds the engine for one command; its progress display runs until
// g.progress.stop.
func (g *globals) engine(db *journal.DB, reg *steps.Registry) *workflow.Engine {
	e := workflow.New(db, reg, g.log)
	e.User, e.Host = whoami()
	e.Version = version
	g.progress = newProgress(g.log, g.status)
	e.OnEvent = withFailpoint(g.progress.event)
	e.OnProgress = g.progress.step
	return e
}

func whoami() (string, string) {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name, host
}

// loadPlaybook resolves a file path or a built-in name. A file wins over a
// built-in of the same name, so a local copy can be edited and used.
func loadPlaybook(ref string, kinds playbooks.KindRegistry) (*playbooks.Playbook, string, error) {
	src, err := os.ReadFile(ref)
	switch {
	case err == nil:
		abs, _ := filepath.Abs(ref)
		pb, err := playbooks.Load(ref, src, kinds)
		return pb, abs, err
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", usagef("playbook %s: %v", ref, err)
	}
	if src, ok := playbooks.Builtin(ref); ok {
		pb, err := playbooks.Load("builtin:"+ref, src, kinds)
		return pb, "builtin:" + ref, err
	}
	return nil, "", usagef("no playbook file or built-in named %q; built-ins: %s (see `cairn playbooks`)", ref, strings.Join(playbooks.BuiltinNames(), ", "))
}

// trustedRun loads a journaled run and its playbook, refusing a run whose
// history does not verify: acting on it could repeat or skip a step.
func (g *globals) trustedRun(db *journal.DB, id string) (journal.Run, *playbooks.Playbook, *steps.Registry, error) {
	run, err := db.Run(id)
	if err != nil {
		return run, nil, nil, err
	}
	if err := db.Verify(id); err != nil {
		return run, nil, nil, fmt.Errorf("run %s cannot be trusted, so it is not continued: %w", id, err)
	}
	reg := g.registry()
	pb, err := reloadPlaybook(run, reg, g.log)
	return run, pb, reg, err
}

// reloadPlaybook loads a run's playbook from where it came from. If that file
// is gone, the exact text kept in the journal is used, so nothing is lost.
func reloadPlaybook(run journal.Run, kinds playbooks.KindRegistry, log zerolog.Logger) (*playbooks.Playbook, error) {
	origin := run.PlaybookFile
	if name, ok := strings.CutPrefix(origin, "builtin:"); ok {
		if src, ok := playbooks.Builtin(name); ok {
			return playbooks.Load(origin, src, kinds)
		}
	} else if src, err := os.ReadFile(origin); err == nil {
		return playbooks.Load(origin, src, kinds)
	}
	log.Warn().Str("playbook", origin).Msg("playbook no longer at its origin; using the text kept in the journal")
	return playbooks.Load("journal:"+run.ID, run.Source, kinds)
}

func paramFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "param", Aliases: []string{"p"}, Usage: "set a parameter, `NAME=VALUE` (repeatable; lists are comma-separated)"},
		&cli.StringFlag{Name: "params-file", Usage: "read parameters from a YAML `FILE` of NAME: VALUE (-p wins over it)"},
	}
}

func readParams(c *cli.Context) (map[string]string, map[string]any, error) {
	set := map[string]string{}
	for _, kv := range c.StringSlice("param") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, nil, usagef("-p %q: expected NAME=VALUE", kv)
		}
		set[k] = v
	}
	var file map[string]any
	if path := c.String("params-file"); path != "" {
		f, err := playbooks.ParseParamsFile(path)
		if err != nil {
			return nil, nil, usageError{err}
		}
		file = f
	}
	return set, file, nil
}

// oneArg returns the single RUN argument or a usage error.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usagef("%s expects exactly one %s argument, got %d (see `cairn %s --help`)", c.Command.Name, what, c.NArg(), c.Command.Name)
	}
	return c.Args().First(), nil
}
