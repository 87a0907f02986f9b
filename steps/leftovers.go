package steps

import (
	"context"
	"fmt"
	"strings"
)

// Leftover is a process that a cairn killed outright left running for an
// instance: a tool's grandchild that escaped the kernel's parent-death
// signal, which reaches only the direct child.
type Leftover struct {
	PID     int
	Command string
}

func (l Leftover) String() string { return fmt.Sprintf("pid %d (%s)", l.PID, l.Command) }

// Reaper finds and kills an instance's leftovers. Every program an exec
// step starts carries CAIRN_RUN_ID, CAIRN_STEP_ID and CAIRN_ITEM in its
// environment, and its children inherit them; that marks them as the
// instance's more reliably than a journaled process group, whose number
// can be reused and which a tool may leave (setsid).
type Reaper struct{}

// Reap kills every process whose environment marks it as run/step/item,
// with the process group it leads or belongs to, and returns once they are
// gone. Only one cairn holds a run's journal at a time, so a marked
// process that is not this one is a dead cairn's leftover.
func (Reaper) Reap(ctx context.Context, runID, step, item string) ([]Leftover, error) {
	marks := []string{"CAIRN_RUN_ID=" + runID, "CAIRN_STEP_ID=" + step, "CAIRN_ITEM=" + item}
	found, err := findMarked(marks)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	if err := killAndWait(ctx, found); err != nil {
		return found, fmt.Errorf("killing what an earlier cairn left running for %s: %w", describeLeftovers(found), err)
	}
	return found, nil
}

func describeLeftovers(ls []Leftover) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ", ")
}
