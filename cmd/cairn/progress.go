package main

import (
	"github.com/rs/zerolog"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/workflow"
)

// progressLogger turns journaled events into log lines: human ones on a
// terminal, JSON otherwise.
func progressLogger(log zerolog.Logger) func(journal.Event) {
	return func(ev journal.Event) {
		var l *zerolog.Event
		switch ev.Type {
		case workflow.EvInstanceFailed, workflow.EvRunFailed, workflow.EvUndoFailed, workflow.EvRollbackFailed:
			l = log.Error()
		case workflow.EvRunInterrupted, workflow.EvRollbackInterrup, workflow.EvRunForced:
			l = log.Warn()
		case workflow.EvInstanceStarted, workflow.EvUndoStarted:
			l = log.Info()
		default:
			l = log.Info()
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
		if ev.Type == workflow.EvRunForced || ev.Type == workflow.EvInstanceSkipped {
			l = l.Str("why", ev.Evidence)
		}
		for k, v := range ev.Outputs {
			l = l.Str("out."+k, v)
		}
		l.Msg(ev.Type)
	}
}
