// Command fakebins is the test double for the tools cairn's upgrade playbooks
// drive: istioctl, asmcli, install_asm, bmctl, gcloud and systemctl. One
// binary plays all of them, chosen by the name it is invoked as (symlinks made
// by install.sh), and acts on the local test cluster through its API the way
// the real tool would, as far as a playbook can observe. It refuses what the
// real tool refuses, so a playbook that skips or misorders a step fails.
//
// Two helper modes run as "fakebins SUBCOMMAND": "injector" (a real mutating
// admission webhook standing in for istiod's sidecar injector) and
// "dataplane-controller" (started detached by `gcloud ... mesh enable`).
//
// See README.md in this directory for the CLI surface and the state each
// command creates.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Environment variables understood by every tool.
const (
	envLog         = "CAIRN_FAKEBINS_LOG"   // append one JSON line per invocation
	envVersion     = "CAIRN_FAKE_VERSION"   // version, if no fake-version file
	envTool        = "FAKEBINS_TOOL"        // tool to play when invoked as "fakebins"
	envScript      = "FAKEBINS_SCRIPT"      // the asmcli wrapper script's path
	envASMRelease  = "FAKEBINS_ASM_RELEASE" // MAJOR.MINOR.POINT-asm.REV from the script
	envFakeDocker  = "CAIRN_FAKE_DOCKER"    // "inactive" simulates a stopped docker
	versionFile    = "fake-version"
	versionFileExt = ".fake-version"
)

// Default versions when nothing pins one.
var defaultVersions = map[string]string{
	"istioctl":    "1.15.4",
	"asmcli":      "1.14.0-asm.1",
	"install_asm": "1.11.2-asm.17",
	"bmctl":       "1.12.1",
	"gcloud":      "400.0.0",
}

// invocation is one run of a tool.
type invocation struct {
	tool  string   // istioctl, asmcli, ...
	path  string   // absolute path it was invoked as (symlinks not resolved)
	args  []string // arguments after the program name
	argv0 string   // as logged
}

func main() { os.Exit(run()) }

func run() int {
	inv := resolveInvocation()
	code := dispatch(inv)
	logInvocation(inv, code)
	return code
}

var tools = map[string]func(*invocation) int{
	"istioctl":             runIstioctl,
	"asmcli":               runAsmcli,
	"install_asm":          runInstallASM,
	"bmctl":                runBmctl,
	"gcloud":               runGcloud,
	"systemctl":            runSystemctl,
	"injector":             runInjector,
	"dataplane-controller": runDataplaneController,
	"istiod-standin":       runIstiodStandin,
}

func dispatch(inv *invocation) int {
	f, ok := tools[inv.tool]
	if !ok {
		fmt.Fprintf(os.Stderr, "fakebins: unknown tool %q; invoke as one of istioctl, asmcli*, install_asm*, bmctl*, gcloud, systemctl, or `fakebins injector|dataplane-controller ...`\n", inv.tool)
		return 2
	}
	return f(inv)
}

// toolFor maps an invoked file name to the tool it plays.
func toolFor(base string) string {
	for _, p := range []string{"istioctl", "asmcli", "install_asm", "bmctl", "gcloud", "systemctl"} {
		if strings.HasPrefix(base, p) {
			return p
		}
	}
	return base
}

func resolveInvocation() *invocation {
	inv := &invocation{argv0: os.Args[0], args: os.Args[1:]}
	inv.path = invokedPath(os.Args[0])
	base := filepath.Base(os.Args[0])
	if base != "fakebins" {
		inv.tool = toolFor(base)
		return inv
	}
	// "fakebins" itself: the asmcli wrapper script sets FAKEBINS_TOOL and
	// FAKEBINS_SCRIPT; otherwise the first argument names the tool.
	if t := os.Getenv(envTool); t != "" {
		inv.tool = toolFor(t)
		if s := os.Getenv(envScript); s != "" {
			inv.path = invokedPath(s)
			inv.argv0 = s
		}
		return inv
	}
	if len(inv.args) > 0 {
		inv.tool = toolFor(inv.args[0])
		inv.argv0 = inv.args[0]
		inv.args = inv.args[1:]
	}
	return inv
}

// invokedPath makes argv0 absolute without resolving symlinks, so that
// istio-1.15.4/bin/istioctl -> /x/fakebins still reads istio-1.15.4/bin/fake-version.
func invokedPath(argv0 string) string {
	p := argv0
	if !strings.Contains(p, "/") {
		if lp, err := exec.LookPath(p); err == nil {
			p = lp
		}
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// version returns the version this copy of the tool plays: NAME.fake-version
// or fake-version beside the invoked path, else $CAIRN_FAKE_VERSION_<TOOL>,
// else $CAIRN_FAKE_VERSION, else the default.
func (inv *invocation) version() string {
	dir, base := filepath.Split(inv.path)
	for _, f := range []string{base + versionFileExt, versionFile} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			if v := strings.TrimSpace(string(b)); v != "" {
				return v
			}
		}
	}
	for _, e := range []string{envVersion + "_" + strings.ToUpper(inv.tool), envVersion} {
		if v := strings.TrimSpace(os.Getenv(e)); v != "" {
			return v
		}
	}
	return defaultVersions[inv.tool]
}

// exitCode is an error that ends a tool with that status and no message
// (it was printed already).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

type logEntry struct {
	Time string   `json:"time"`
	Tool string   `json:"tool"`
	Argv []string `json:"argv"`
	Cwd  string   `json:"cwd"`
	Exit int      `json:"exit"`
	Pid  int      `json:"pid"`
}

// logInvocation appends one JSON line to $CAIRN_FAKEBINS_LOG. A single
// O_APPEND write keeps lines whole when tools run concurrently.
func logInvocation(inv *invocation, code int) {
	path := os.Getenv(envLog)
	if path == "" {
		return
	}
	cwd, _ := os.Getwd()
	b, err := json.Marshal(logEntry{
		Time: time.Now().UTC().Format(time.RFC3339Nano), Tool: inv.tool,
		Argv: append([]string{inv.argv0}, inv.args...), Cwd: cwd, Exit: code, Pid: os.Getpid(),
	})
	if err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakebins: cannot write invocation log %s: %v\n", path, err)
		return
	}
	defer f.Close()
	_, _ = f.Write(append(b, '\n'))
}
