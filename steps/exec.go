package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// defaultWaitDelay bounds how long Run keeps reading output after the
// process was killed or exited: a grandchild that escaped the process group,
// or was left running in the background, may hold the pipes open
// indefinitely.
const defaultWaitDelay = 3 * time.Second

func execKind(deps Deps) Kind {
	return Kind{
		Name:      "exec",
		Summary:   "run a program directly (no shell) and check its exit code and output",
		NewParams: func() any { return &ExecParams{} },
		New: func() (Executor, error) {
			wd := deps.ExecWaitDelay
			if wd <= 0 {
				wd = defaultWaitDelay
			}
			return &execExecutor{log: deps.Logger, now: deps.now, waitDelay: wd}, nil
		},
	}
}

type execExecutor struct {
	log       zerolog.Logger
	now       func() time.Time
	waitDelay time.Duration
}

// StreamsOutput says that Run passes the program's output to in.Output.
func (x *execExecutor) StreamsOutput() {}

// Run runs argv and judges its exit code and stdout. A result that a retry
// would reproduce (missing program, unexpected exit code, output that does
// not match) is Permanent; a timeout is not, since the cause may be a slow
// cluster, and neither is an exit code listed in retryOn.
func (x *execExecutor) Run(ctx context.Context, in Instance) (Result, error) {
	p, ok := in.Params.(*ExecParams)
	if !ok {
		return Result{}, Permanent(fmt.Errorf("exec: params are %T, not *ExecParams (a bug)", in.Params))
	}
	expect, outs, err := p.compile()
	if err != nil {
		return Result{}, Permanent(err)
	}
	if p.Dir != "" {
		// Checked here because with Setpgid os/exec reports a missing
		// directory as a missing program.
		if fi, err := os.Stat(p.Dir); err != nil {
			return Result{}, Permanent(fmt.Errorf("dir %s: %w", p.Dir, unwrapPath(err)))
		} else if !fi.IsDir() {
			return Result{}, Permanent(fmt.Errorf("dir %s: not a directory", p.Dir))
		}
	}

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if p.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, p.Timeout)
	}
	defer cancel()

	headCap := 0
	if expect != nil || len(outs) > 0 {
		headCap = maxStdoutBytes
	}
	stdout := &capture{headCap: headCap, tailCap: p.tailBytes(), red: in.Redactor}
	stderr := &capture{tailCap: p.tailBytes(), red: in.Redactor}

	cmd := exec.CommandContext(runCtx, p.Argv[0], p.Argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = execEnv(in, p.Env)
	cmd.Stdin = nil // /dev/null: a prompt must fail, not hang the run
	emit := in.Output
	if emit == nil {
		emit = func(string, string) {}
	}
	outLines := &lineStream{stream: "stdout", red: in.Redactor, emit: emit}
	errLines := &lineStream{stream: "stderr", red: in.Redactor, emit: emit}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(stdout, outLines), io.MultiWriter(stderr, errLines)
	ownProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd) }
	cmd.WaitDelay = x.waitDelay

	// Pdeathsig fires when the thread that forked exits, not the process.
	// Unlocked, this goroutine could move on while that thread is later
	// ended (as when a goroutine that locked it returns), killing a healthy
	// child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := x.now()
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("argv[0] %s: %w", p.Argv[0], unwrapPath(err))
		if startIsPermanent(err) {
			err = Permanent(err)
		}
		return Result{}, err
	}
	waitErr := cmd.Wait()
	// Wait has returned, so the goroutines copying the output are done.
	outLines.Close()
	errLines.Close()
	elapsed := x.now().Sub(start).Round(time.Millisecond)

	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	x.log.Debug().Str("step", in.StepID).Str("item", in.Item).Str("program", in.Redactor.Redact(p.Argv[0])).
		Int("exit", code).Dur("elapsed", elapsed).Msg("exec finished")

	res := Result{Evidence: x.evidence(cmd.ProcessState, elapsed, waitErr, stdout, stderr)}
	var exitErr *exec.ExitError
	// ErrWaitDelay means the process exited by itself and only its output
	// lingered; that is judged like any exit, even past the timeout.
	lingered := errors.Is(waitErr, exec.ErrWaitDelay)
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("exec %s: %w", p.Argv[0], ctx.Err())
	case waitErr != nil && !lingered && runCtx.Err() != nil:
		return res, fmt.Errorf("timed out after %s; process group killed; %s", p.Timeout, outputHint(stdout, stderr))
	case waitErr != nil && !lingered && !errors.As(waitErr, &exitErr):
		return res, fmt.Errorf("exec %s: %w", p.Argv[0], waitErr)
	}
	if !slices.Contains(p.exitCodes(), code) {
		err := fmt.Errorf("%s, expected one of %v; %s", describeExit(cmd.ProcessState), p.exitCodes(), outputHint(stdout, stderr))
		if slices.Contains(p.RetryOn, code) {
			return res, err // the step's retry applies
		}
		return res, Permanent(err)
	}
	if expect != nil && !expect.Match(stdout.head) {
		return res, Permanent(fmt.Errorf("stdout did not match expect /%s/%s; %s", expect, truncNote(stdout), stdoutHint(stdout)))
	}
	res.Outputs, err = extractOutputs(outs, stdout.head)
	if err != nil {
		return res, Permanent(fmt.Errorf("%w%s; %s", err, truncNote(stdout), stdoutHint(stdout)))
	}
	return res, nil
}

// execEnv is the inherited environment plus the instance's identity, so that
// a script can make its side effect idempotent across retries and resumes
// (CAIRN_TOKEN is the same for every attempt), then the run's environment
// for tools (KUBECONFIG), then the step's own env.
func execEnv(in Instance, env map[string]string) []string {
	out := append(os.Environ(),
		"CAIRN_RUN_ID="+in.RunID,
		"CAIRN_STEP_ID="+in.StepID,
		"CAIRN_ITEM="+in.Item,
		"CAIRN_ATTEMPT="+strconv.Itoa(in.Attempt),
		"CAIRN_TOKEN="+in.Token,
	)
	// Later entries win in os/exec, so the step's env overrides.
	for _, k := range sortedKeys(in.Env) {
		out = append(out, k+"="+in.Env[k])
	}
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func (x *execExecutor) evidence(ps *os.ProcessState, elapsed time.Duration, waitErr error, stdout, stderr *capture) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s\n", describeExit(ps), elapsed)
	if errors.Is(waitErr, exec.ErrWaitDelay) {
		fmt.Fprintf(&b, "(stopped reading output %s after exit: a background process kept it open)\n", x.waitDelay)
	}
	stdout.section(&b, "stdout")
	stderr.section(&b, "stderr")
	return b.String()
}

func describeExit(ps *os.ProcessState) string {
	if ps == nil {
		return "not started"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return "exit code " + strconv.Itoa(ps.ExitCode())
}

func truncNote(c *capture) string {
	if !c.truncated() {
		return ""
	}
	return fmt.Sprintf(" (stdout is %d bytes; only the first %d were searched)", c.total, len(c.head))
}

// unwrapPath drops os/exec's "fork/exec PATH:" and "exec: NAME:" prefixes,
// which would repeat the program name the caller already states.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// startIsPermanent tells a program that cannot run from a transient failure
// to fork (EAGAIN, ENOMEM), which a retry may get past.
func startIsPermanent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) ||
		errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, syscall.EISDIR)
}
