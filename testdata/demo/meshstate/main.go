// Command meshstate is make demo's window on the cluster and on the records,
// since the project ships no kubectl: it prints the mesh state (control
// planes, revision tag, namespace labels, each pod's sidecar image, each
// Deployment's ReplicaSets), tells the demo when to kill cairn, and checks
// the outcome (the AFTER state, the test doubles' invocation log and the
// journal export), exiting 1 when anything is not as it must be.
//
//	meshstate show    --kubeconfig K NS...
//	meshstate wait-restart --kubeconfig K --pid PID [--timeout D] NS
//	meshstate verify  --kubeconfig K --old-rev R --new-rev R --version V NS...
//	meshstate calls   --log FILE [--once TOOL:ARG]...
//	meshstate journal < `cairn journal export RUN`
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const usage = `usage:
  meshstate show --kubeconfig K NS...
  meshstate wait-restart --kubeconfig K --pid PID [--timeout D] NS
  meshstate verify --kubeconfig K --old-rev R --new-rev R --version V NS...
  meshstate calls --log FILE [--once TOOL:ARG]...
  meshstate journal < JOURNAL-EXPORT`

// errFailed means the problems were already printed.
var errFailed = errors.New("failed")

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, errFailed) {
			fmt.Fprintln(os.Stderr, "meshstate:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	pid := fs.Int("pid", 0, "wait-restart: give up when this process exits")
	timeout := fs.Duration("timeout", 2*time.Minute, "wait-restart: give up after this long")
	oldRev := fs.String("old-rev", "", "verify: the revision that must be gone")
	newRev := fs.String("new-rev", "", "verify: the revision everything must use")
	version := fs.String("version", "", "verify: the proxyv2 tag every sidecar must run")
	logFile := fs.String("log", "", "calls: the test doubles' invocation log (CAIRN_FAKEBINS_LOG)")
	var once multiFlag
	fs.Var(&once, "once", "calls: TOOL:ARG that must appear exactly once (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+time.Minute)
	defer cancel()
	switch args[0] {
	case "calls":
		return calls(*logFile, once)
	case "journal":
		return journalCheck(os.Stdin)
	}
	cs, err := client(*kubeconfig)
	if err != nil {
		return err
	}
	switch args[0] {
	case "show":
		return show(ctx, cs, fs.Args())
	case "wait-restart":
		if fs.NArg() != 1 || *pid <= 0 {
			return errors.New(usage)
		}
		return waitRestart(ctx, cs, fs.Arg(0), *pid, *timeout)
	case "verify":
		if *oldRev == "" || *newRev == "" || *version == "" || fs.NArg() == 0 {
			return errors.New(usage)
		}
		return verify(ctx, cs, after{oldRev: *oldRev, newRev: *newRev, version: *version, namespaces: fs.Args()})
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func client(kubeconfig string) (*kubernetes.Clientset, error) {
	if kubeconfig == "" {
		return nil, errors.New("set --kubeconfig or $KUBECONFIG")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	// A hung API server (say, etcd gone after a ^C) must not hang the demo.
	cfg.Timeout = 15 * time.Second
	return kubernetes.NewForConfig(cfg)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// alive reports whether pid is a live process; a zombie (exited, not yet
// reaped by the demo script) counts as gone.
func alive(pid int) bool {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "State:") {
			return !strings.Contains(line, "Z")
		}
	}
	return true
}
