package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
)

//go:embed report.html.tmpl
var reportTemplateText string

var reportTemplate = template.Must(template.New("report").Parse(reportTemplateText))

type reportOptions struct {
	runID  string
	output string // a file, "-" for stdout, or "" for cairn-report-RUN.html
	now    func() time.Time
}

func newReportOptions(runID, output string) *reportOptions {
	return &reportOptions{runID: runID, output: output, now: time.Now}
}

func newReportCommand() *cli.Command {
	return &cli.Command{
		Name:         "report",
		Usage:        "write a run's audit report: one self-contained HTML file",
		ArgsUsage:    "RUN",
		BashComplete: firstArg(runIDs),
		Description: `Writes one HTML file for a reviewer to open after the upgrade, made from the
journal alone (no cluster, no secret needed): who ran the run, when (UTC)
and against which cluster (server, kube-system UID, context); its
parameters, secrets redacted as in show; the timeline of every event, with
the points where a process was killed and where the run was resumed; each
step and item with its attempts, retries, gate waits, approver and comment,
evidence and output; the hash chain's verification and head hash, as
journal verify prints it; and what rollback would restore, beside what each
step did.

The file needs nothing else: no network, no fonts, no scripts. It is
written to cairn-report-RUN.html in the current directory unless -o names
another file; an existing file is replaced (the new report is written
beside it and renamed over it, mode 0600 like the journal). The path
written is printed.

   cairn report RUN                  writes cairn-report-RUN.html
   cairn report RUN -o audit.html    writes audit.html
   cairn report RUN -o -             the HTML on stdout`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "`FILE` to write, - for stdout (default cairn-report-RUN.html)"}},
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			id, err := oneArg(c, "RUN")
			if err != nil {
				return err
			}
			return newReportOptions(id, c.String("output")).run(g)
		},
	}
}

func (o *reportOptions) run(g *globals) error {
	rep, err := g.cfg.Report(o.runID)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, buildReport(rep, o.now())); err != nil {
		return fmt.Errorf("report of run %s: %w", rep.Run.ID, err)
	}
	if o.output == "-" {
		_, err := g.stdout.Write(b.Bytes())
		return err
	}
	path := o.output
	if path == "" {
		path = "cairn-report-" + rep.Run.ID + ".html"
	}
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("report of run %s: %w", rep.Run.ID, err)
	}
	_, err = fmt.Fprintln(g.stdout, path)
	return err
}

// writeFileAtomic writes data to a new file beside path and renames it over
// path: a reader never sees half a report, and a failed write leaves an
// earlier one as it was. Like the journal it is private to its owner (0600):
// it names the cluster and holds the tools' output.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
