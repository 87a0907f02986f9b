package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/workflow"
)

// progressRepeat is how often an unchanged progress message is logged again,
// so a long wait still shows signs of life in a log file.
const progressRepeat = 30 * time.Second

// progress shows how a run is getting on. Every journaled event becomes a
// log line (human on a terminal, JSON otherwise). Progress reported by long
// steps is logged when it changes, and at most every progressRepeat when it
// does not. On a terminal a status line, redrawn in place below the logs,
// shows the running step: a foreach step's done, running and pending items,
// and the latest progress of what is running; the progress messages then go
// to the debug level instead, since the status line already shows them.
type progress struct {
	log    zerolog.Logger
	line   *statusLine // nil without a terminal
	tagRun bool        // put the run id on each line (JSON logs)

	mu      sync.Mutex
	runID   string // from the first update on; on every line if tagRun
	steps   map[string]*stepView
	current string // the step the status line shows
	logged  map[string]loggedMsg
	ticking bool
	quit    chan struct{}
	done    chan struct{}
}

type stepView struct {
	foreach bool
	items   []string             // the frozen foreach items
	state   map[string]string    // item -> running, done, failed, waiting
	since   map[string]time.Time // item -> when it started, on this clock
	msg     map[string]string    // item -> latest progress
}

type loggedMsg struct {
	msg string
	at  time.Time
}

func newProgress(log zerolog.Logger, line *statusLine) *progress {
	return &progress{log: log, line: line, steps: map[string]*stepView{}, logged: map[string]loggedMsg{},
		quit: make(chan struct{}), done: make(chan struct{})}
}

func (p *progress) view(step string) *stepView {
	v := p.steps[step]
	if v == nil {
		v = &stepView{state: map[string]string{}, since: map[string]time.Time{}, msg: map[string]string{}}
		p.steps[step] = v
	}
	return v
}

// update is the engine's OnUpdate. It is called with the engine's run lock
// held, so it only updates memory and logs; drawing happens on the ticker.
func (p *progress) update(u workflow.Update) {
	p.mu.Lock()
	if p.tagRun {
		p.runID = u.RunID
	}
	runID := p.runID
	summary := p.apply(u)
	startTicker := p.line != nil && !p.ticking && p.current != ""
	if startTicker {
		p.ticking = true
	}
	p.mu.Unlock()
	if startTicker {
		go p.tick()
	}
	logEvent(p.log, runID, u.Event, summary)
}

// apply folds u into the views and returns a batch summary to log with it
// when u finished an item of a foreach step.
func (p *progress) apply(u workflow.Update) string {
	switch {
	case u.Items != nil:
		v := p.view(u.Event.Step)
		v.foreach, v.items = true, u.Items
		return ""
	case u.Instance == nil:
		if u.Run != workflow.StatusRunning {
			p.current = "" // the run ended, paused or entered rollback
		}
		return ""
	}
	in := u.Instance
	v := p.view(in.Step)
	switch u.State() {
	case workflow.InstRunning:
		v.state[in.Item], v.since[in.Item] = "running", time.Now()
		delete(v.msg, in.Item)
		p.current = in.Step
		return ""
	case workflow.InstSucceeded, workflow.InstSkipped:
		v.state[in.Item] = "done"
	case workflow.InstFailed:
		v.state[in.Item] = "failed"
	case workflow.InstWaiting:
		v.state[in.Item] = "waiting"
	default:
		return ""
	}
	delete(v.msg, in.Item)
	if !v.foreach {
		return ""
	}
	return v.batch()
}

// step is the engine's OnProgress; it may be called from several goroutines.
func (p *progress) step(step, item, msg string) {
	key := workflow.Key(step, item)
	now := time.Now()
	p.mu.Lock()
	runID := p.runID
	p.view(step).msg[item] = msg
	last, seen := p.logged[key]
	repeat := seen && last.msg == msg && now.Sub(last.at) < progressRepeat
	if !repeat {
		p.logged[key] = loggedMsg{msg, now}
	}
	p.mu.Unlock()
	if repeat {
		return
	}
	l := p.log.Info()
	if p.line != nil {
		l = p.log.Debug()
	}
	if runID != "" {
		l = l.Str("run", runID)
	}
	l.Str("step", key).Msg(msg)
}

// output is the engine's OnOutput: a line a step's program wrote, already
// redacted. Without a status line (JSON logs, a file, CI) every line is
// logged at info level with its step and stream, so a log shipped from a
// one-hour upgrade holds what the tool said. On a terminal the status line
// shows the latest line instead and the lines go to debug level: a tool
// printing thousands of lines would bury cairn's own messages, and
// `cairn logs RUN STEP -f` shows every line from another terminal. The
// output of an undo or a check action says so in "phase".
func (p *progress) output(step, item, phase, stream, line string) {
	p.mu.Lock()
	runID := p.runID
	if p.line != nil && strings.TrimSpace(line) != "" {
		p.view(step).msg[item] = strings.TrimSpace(line)
	}
	p.mu.Unlock()
	l := p.log.Info()
	if p.line != nil {
		l = p.log.Debug()
	}
	if runID != "" {
		l = l.Str("run", runID)
	}
	l = l.Str("step", workflow.Key(step, item))
	if phase != "" {
		l = l.Str("phase", phase)
	}
	l.Str("stream", stream).Msg(line)
}

// batch describes a foreach step: "3/10 done, running [app-4 app-5], pending 5".
func (v *stepView) batch() string {
	var done, failed, waiting int
	var running []string
	for _, it := range v.items {
		switch v.state[it] {
		case "done":
			done++
		case "failed":
			failed++
		case "waiting":
			waiting++
		case "running":
			running = append(running, it)
		}
	}
	s := fmt.Sprintf("%d/%d done", done, len(v.items))
	if len(running) > 0 {
		shown := running
		if len(shown) > 4 {
			shown = append(slices.Clip(shown[:4]), "…")
		}
		s += ", running [" + strings.Join(shown, " ") + "]"
	}
	if pending := len(v.items) - done - failed - waiting - len(running); pending > 0 {
		s += fmt.Sprintf(", pending %d", pending)
	}
	if failed > 0 {
		s += fmt.Sprintf(", failed %d", failed)
	}
	if waiting > 0 {
		s += fmt.Sprintf(", waiting for approval %d", waiting)
	}
	return s
}

// render is the status line: the current step, its batch, and the oldest
// running instance's progress and how long it has been running.
func (p *progress) render(now time.Time) string {
	v := p.steps[p.current]
	if v == nil {
		return ""
	}
	var oldest string
	found := false
	for it, st := range v.state {
		if st == "running" && (!found || v.since[it].Before(v.since[oldest])) {
			oldest, found = it, true
		}
	}
	if !found {
		return ""
	}
	elapsed := now.Sub(v.since[oldest]).Round(time.Second)
	msg := v.msg[oldest]
	if msg == "" {
		msg = "running"
	}
	if !v.foreach {
		return fmt.Sprintf("%s: %s (%s)", p.current, msg, elapsed)
	}
	return fmt.Sprintf("%s: %s · %s: %s (%s)", p.current, v.batch(), oldest, msg, elapsed)
}

func (p *progress) tick() {
	defer close(p.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			p.line.clear()
			return
		case now := <-t.C:
			p.mu.Lock()
			s := p.render(now)
			p.mu.Unlock()
			p.line.set(s)
		}
	}
}

// stop removes the status line, before the outcome is printed.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	ticking := p.ticking
	p.mu.Unlock()
	if ticking {
		close(p.quit)
		<-p.done
	}
}

// logEvent turns a journaled event into a log line.
func logEvent(log zerolog.Logger, runID string, ev journal.Event, batch string) {
	var l *zerolog.Event
	switch ev.Type {
	case workflow.EvInstanceFailed, workflow.EvRunFailed, workflow.EvUndoFailed, workflow.EvRollbackFailed:
		l = log.Error()
	case workflow.EvRunInterrupted, workflow.EvRollbackInterrup, workflow.EvRunForced, workflow.EvLockTakenOver:
		l = log.Warn()
	default:
		l = log.Info()
	}
	if runID != "" {
		l = l.Str("run", runID)
	}
	l = l.Uint64("seq", ev.Seq)
	if ev.Step != "" {
		l = l.Str("step", workflow.Key(ev.Step, ev.Item))
	}
	if ev.Attempt > 1 {
		l = l.Int("attempt", ev.Attempt)
	}
	if ev.Error != "" {
		l = l.Str("error", ev.Error)
	}
	if ev.Type == workflow.EvRunForced || ev.Type == workflow.EvInstanceSkipped || ev.Type == workflow.EvLockTakenOver {
		l = l.Str("why", ev.Evidence)
	}
	for k, v := range ev.Outputs {
		l = l.Str("out."+k, v)
	}
	if batch != "" {
		l = l.Str("batch", batch)
	}
	l.Msg(ev.Type)
}
