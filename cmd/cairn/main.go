// Command cairn runs upgrade playbooks durably: every step is journaled, so
// an interrupted run resumes exactly where it stopped.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "\n%s: stopping after journaling where the run is (send it again to exit at once)\n", sig)
		cancel(fmt.Errorf("received %s", sig))
		sig = <-sigs
		fmt.Fprintf(os.Stderr, "%s again: exiting now; `cairn resume` re-checks the step that was running\n", sig)
		os.Exit(ExitInterrupted)
	}()
	os.Exit(Main(ctx, os.Args, os.Stdout, os.Stderr))
}
