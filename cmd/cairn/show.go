package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
	"github.com/cairn-dev/cairn/workflow/action"
)

type showOptions struct {
	runID   string
	output  string
	events  bool
	cluster bool
}

func newShowCommand() *cli.Command {
	return &cli.Command{
		Name:         "show",
		Usage:        "show a run's timeline: every step instance, its attempts, outputs and errors",
		ArgsUsage:    "[RUN]",
		BashComplete: firstArg(runIDs),
		Description: `Without RUN, the newest run of the journal.

   cairn show                      the newest run
   cairn show 20261203-0915        a run by a unique prefix of its id
   cairn show @latest -o json

` + runRefHelp,
		Flags: append([]cli.Flag{outputFlag(), &cli.BoolFlag{Name: "events", Usage: "also list every journal event"}}, clusterReadFlags()...),
		Action: func(c *cli.Context) error {
			g, err := newGlobals(c)
			if err != nil {
				return err
			}
			o := &showOptions{output: c.String("output"), events: c.Bool("events"), cluster: c.Bool("cluster")}
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if c.NArg() > 1 {
				return usagef("show takes at most one RUN argument, got %d (see `cairn show --help`)", c.NArg())
			}
			o.runID = c.Args().First()
			if o.runID == "" {
				o.runID = action.LatestRun
			}
			return o.run(c, g)
		},
	}
}

type attemptView struct {
	N        int       `json:"n" yaml:"n"`
	Started  time.Time `json:"started" yaml:"started"`
	Duration string    `json:"duration,omitempty" yaml:"duration,omitempty"`
	Outcome  string    `json:"outcome" yaml:"outcome"`
	Error    string    `json:"error,omitempty" yaml:"error,omitempty"`
	Evidence string    `json:"evidence,omitempty" yaml:"evidence,omitempty"`
}

type instanceView struct {
	Instance string            `json:"instance" yaml:"instance"`
	Status   string            `json:"status" yaml:"status"`
	Attempts []attemptView     `json:"attempts,omitempty" yaml:"attempts,omitempty"`
	Outputs  map[string]string `json:"outputs,omitempty" yaml:"outputs,omitempty"`
	Error    string            `json:"error,omitempty" yaml:"error,omitempty"`
	Note     string            `json:"note,omitempty" yaml:"note,omitempty"`
	Undo     string            `json:"undo,omitempty" yaml:"undo,omitempty"`
}

type showView struct {
	Run     runRow            `json:"run" yaml:"run"`
	Origin  string            `json:"origin" yaml:"origin"`
	Digest  string            `json:"digest" yaml:"digest"`
	Params  map[string]string `json:"params" yaml:"params"`
	Resumes int               `json:"resumes" yaml:"resumes"`
	// Verification is "ok", or why the run's hash chain does not hold.
	Verification string          `json:"verification" yaml:"verification"`
	Instances    []instanceView  `json:"instances" yaml:"instances"`
	Events       []journal.Event `json:"events,omitempty" yaml:"events,omitempty"`
}

func (o *showOptions) run(c *cli.Context, g *globals) error {
	var (
		shown *action.Shown
		err   error
	)
	if o.cluster {
		shown, err = g.cfg.ShowInCluster(c.Context, o.runID)
	} else {
		shown, err = g.cfg.Show(o.runID)
	}
	if err != nil {
		return err
	}
	v := buildShow(shown.State, shown.Stopped)
	for _, k := range shown.Pending {
		v.Instances = append(v.Instances, instanceView{Instance: k, Status: string(workflow.InstPending)})
	}
	if shown.Unverified != nil {
		v.Verification = "FAILED: " + shown.Unverified.Error()
	} else {
		v.Verification = "ok"
	}
	if o.events || o.output != "table" {
		v.Events = shown.Events
	}
	if o.output != "table" {
		return printData(g.stdout, o.output, v)
	}
	return printShow(printableWriter{g.stdout}, v)
}

func buildShow(st *workflow.State, stopped bool) showView {
	last := journal.Event{}
	if n := len(st.Events); n > 0 {
		last = st.Events[n-1]
	}
	v := showView{Run: summaryRow(journal.RunSummary{Run: st.Run, Last: last, Events: uint64(len(st.Events)), Stopped: stopped}),
		Origin: st.Run.PlaybookFile, Digest: st.Run.Digest, Params: st.Run.Params, Resumes: st.Resumes}
	seen := map[string]bool{}
	for _, ev := range st.Events {
		k := workflow.Key(ev.Step, ev.Item)
		in, ok := st.Instances[k]
		if ev.Step == "" || seen[k] || !ok {
			continue
		}
		seen[k] = true
		iv := instanceView{Instance: k, Status: string(in.Status), Outputs: in.Outputs, Error: in.Error}
		if in.Status == workflow.InstSkipped {
			iv.Note = in.Evidence
		}
		if in.Approver != "" {
			iv.Note = strings.TrimSpace("approved by " + in.Approver + " " + in.Comment)
		}
		if in.Undo != workflow.InstPending {
			iv.Undo = string(in.Undo) + " " + in.UndoErr
		}
		for _, a := range in.Attempts {
			av := attemptView{N: a.N, Started: a.Started, Outcome: a.Outcome, Error: a.Error}
			if a.Outcome == "" && in.Status == workflow.InstWaiting {
				av.Outcome = "waiting for approval"
			} else if a.Outcome == "" {
				av.Outcome = "started, never finished"
			} else {
				av.Duration = a.Ended.Sub(a.Started).Round(time.Millisecond).String()
			}
			iv.Attempts = append(iv.Attempts, av)
		}
		v.Instances = append(v.Instances, iv)
	}
	return v
}

func printShow(w io.Writer, v showView) error {
	fmt.Fprintf(w, "run       %s\nplaybook  %s (%s, digest %.12s)\nstatus    %s\nstarted   %s by %s, %s\n",
		v.Run.ID, v.Run.Playbook, v.Origin, v.Digest, v.Run.Status, v.Run.Started.UTC().Format("2006-01-02 15:04:05 UTC"), v.Run.User, v.Run.Duration)
	if v.Verification != "ok" {
		fmt.Fprintf(w, "journal   %s\n", v.Verification)
	}
	target := cluster.TargetString(v.Run.Target)
	if uid := v.Run.Target["kube-system-uid"]; uid != "" {
		target += " (kube-system uid " + uid + ")"
	}
	fmt.Fprintf(w, "target    %s\nparams    %s\nresumed   %d time(s)\n\n", target, kvString(v.Params), v.Resumes)
	tw := newTable(w)
	row(tw, "INSTANCE", "STATUS", "ATTEMPT", "STARTED (UTC)", "DURATION", "DETAIL")
	for _, in := range v.Instances {
		detail := in.Note
		if len(in.Outputs) > 0 {
			detail = strings.TrimSpace(detail + " outputs: " + kvString(in.Outputs))
		}
		if in.Undo != "" {
			detail = strings.TrimSpace(detail + " undo: " + in.Undo)
		}
		row(tw, in.Instance, in.Status, "", "", "", detail)
		for _, a := range in.Attempts {
			d := a.Outcome
			if a.Error != "" {
				d += ": " + firstLine(a.Error)
			}
			row(tw, "", "", a.N, a.Started.UTC().Format("15:04:05.000"), a.Duration, d)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Events) > 0 {
		fmt.Fprintln(w, "\nEVENTS")
		tw = newTable(w)
		for _, ev := range v.Events {
			row(tw, ev.Seq, ev.Time.UTC().Format("15:04:05.000"), ev.Type, workflow.Key(ev.Step, ev.Item), ev.User, firstLine(ev.Error+ev.Evidence))
		}
		return tw.Flush()
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
