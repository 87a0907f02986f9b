package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// istioctl: the subset of the CLI the playbooks use, with the command tree of
// the version it plays (istioctl/cmd/root.go at that tag). Errors print as
// cobra does ("Error: ...") and exit 1; an unknown command exits 64
// (istioctl/cmd/sysexits.go: ExitIncorrectUsage).

// istioGlobalFlags are the root command's persistent flags. A subcommand
// that declares a flag of the same name shadows it, shorthand included, as
// cobra's flag merging does (uninstall's own --istioNamespace in 1.14-1.19
// has no -i).
var istioGlobalFlags = []flag{strFlag("kubeconfig", "c"), strFlag("context"), strFlag("istioNamespace", "i"), strFlag("namespace", "n"),
	strFlag("vklog"), strFlag("log_output_level")}

type istioctl struct {
	inv     *invocation
	version string
	v       semver // parsed version; {0,0,0} when unparsable
	out     io.Writer
	errOut  io.Writer
}

// usageError is cobra's "unknown command": istioctl exits 64 for it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func runIstioctl(inv *invocation) int {
	t := &istioctl{inv: inv, version: inv.version(), out: os.Stdout, errOut: os.Stderr}
	t.v, _ = parseVersion(t.version)
	err := t.run(inv.args)
	var ec exitCode
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 64
	}
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	return 1
}

// firstWord splits off the first non-flag argument (the command); flags may
// precede it.
func firstWord(args []string) (string, []string) {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a, append(append([]string{}, args[:i]...), args[i+1:]...)
		}
	}
	return "", args
}

// Version-dependent command forms (istioctl/cmd/root.go and
// operator/cmd/mesh/uninstall.go at each tag):
//   - install exists from 1.6; 1.5 and 1.6 have `manifest apply`;
//   - top-level uninstall exists from 1.15; `x uninstall` up to 1.18
//     (soft-graduated from 1.15, with a note on stderr);
//   - uninstall declares its own --istioNamespace, without -i, in 1.14-1.19.
func (t *istioctl) hasInstall() bool           { return t.v.minor >= 6 }
func (t *istioctl) hasManifestApply() bool     { return t.v.minor <= 6 }
func (t *istioctl) hasUninstall() bool         { return t.v.minor >= 15 }
func (t *istioctl) hasXUninstall() bool        { return t.v.minor <= 18 }
func (t *istioctl) uninstallOwnsIstioNS() bool { return t.v.minor <= 19 }

// hasTag: top-level tag from 1.11 (1.10 had `x revision tag`).
func (t *istioctl) hasTag() bool { return t.v.minor >= 11 }

func (t *istioctl) unknownCommand(cmd, parent string) error {
	msg := fmt.Sprintf("unknown command %q for %q", cmd, parent)
	if cmd == "uninstall" && parent == "istioctl" {
		msg += "\n\nDid you mean this?\n\tinstall\n"
	}
	return usageError{msg + "\nRun '" + parent + " --help' for usage."}
}

func (t *istioctl) run(args []string) error {
	cmd, rest := firstWord(args)
	if cmd == "x" || cmd == "experimental" || cmd == "exp" {
		sub, r := firstWord(rest)
		switch {
		case sub == "precheck":
			return t.precheck(r)
		case sub == "create-remote-secret":
			return t.createRemoteSecret(r)
		case sub == "uninstall" && t.hasXUninstall():
			if t.hasUninstall() {
				fmt.Fprintln(t.errOut, "(uninstall has graduated. Use `istioctl uninstall`)")
			}
			return t.uninstall(r)
		}
		return t.experimentalWithout(sub, r)
	}
	switch cmd {
	case "version":
		return t.versionCmd(rest)
	case "install", "apply":
		if !t.hasInstall() {
			return t.unknownCommand(cmd, "istioctl")
		}
		return t.install(rest)
	case "manifest":
		sub, r := firstWord(rest)
		if sub == "apply" && t.hasManifestApply() {
			return t.install(r)
		}
		return fmt.Errorf("the fake istioctl %s has no `manifest %s` (manifest apply exists in 1.5 and 1.6)", t.version, sub)
	case "uninstall":
		if !t.hasUninstall() {
			return t.unknownCommand(cmd, "istioctl")
		}
		return t.uninstall(rest)
	case "tag":
		if !t.hasTag() {
			return t.unknownCommand(cmd, "istioctl")
		}
		return t.tag(rest)
	case "proxy-status", "ps":
		return t.proxyStatus(rest)
	case "create-remote-secret":
		return t.createRemoteSecret(rest)
	case "analyze":
		return t.analyze(rest)
	case "":
		return fmt.Errorf("istioctl (fake) needs a command: version, install, uninstall, tag, proxy-status, x precheck, x create-remote-secret, analyze")
	default:
		return t.unknownCommand(cmd, "istioctl")
	}
}

// experimentalWithout is `istioctl x WORD ...` where x has no subcommand
// WORD: cobra stays on x (a non-root command accepts arbitrary arguments),
// parses the flags against x's own (the root's persistent ones), so the
// first other flag fails with exit 1; without such flags x has no Run, so
// cobra prints its help and exits 0, having done nothing.
func (t *istioctl) experimentalWithout(sub string, args []string) error {
	if _, err := t.parse(args); err != nil {
		return err
	}
	_ = sub
	fmt.Fprintln(t.out, "Experimental commands that may be modified or deprecated\n\nUsage:\n  istioctl experimental [command]\n\nUse \"istioctl experimental [command] --help\" for more information about a command.")
	return nil
}

// parse parses a subcommand's flags plus the root's persistent ones it does
// not shadow.
func (t *istioctl) parse(args []string, specs ...flag) (*flags, error) {
	declared := map[string]bool{}
	for _, s := range specs {
		declared[s.names[0]] = true
	}
	all := append([]flag{}, specs...)
	for _, g := range istioGlobalFlags {
		if !declared[g.names[0]] {
			all = append(all, g)
		}
	}
	return parseFlags(args, all, parseOpts{})
}

func (t *istioctl) kube(f *flags) (*kube, error) {
	k, err := newKube(f.str("kubeconfig"), f.str("context"))
	if err != nil {
		return nil, fmt.Errorf("failed to create Kubernetes client: %v", err)
	}
	return k, nil
}

func istioNS(f *flags) string {
	if ns := f.str("istioNamespace"); ns != "" {
		return ns
	}
	return "istio-system"
}

// confirm asks on stdout and reads a y/N answer from stdin, as istioctl does.
// A closed stdin (a non-interactive run without -y) answers no.
func confirm(msg string, out io.Writer) bool {
	fmt.Fprint(out, msg+" ")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		fmt.Fprintln(out) // EOF: end the prompt's line
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

var revisionRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// gatewayProfiles are the profiles whose default includes istio-ingressgateway.
var gatewayProfiles = map[string]bool{"default": true, "demo": true, "asm": true, "asm-gcp": true, "asm-multicloud": true, "asm-onprem": true, "preview": true}

func (t *istioctl) install(args []string) error {
	f, err := t.parse(args, strFlag("set", "s"), strFlag("filename", "f"), boolFlag("skip-confirmation", "y"), strFlag("revision", "r"),
		strFlag("readiness-timeout"), boolFlag("dry-run"), boolFlag("verify"), boolFlag("force"), strFlag("manifests", "d"))
	if err != nil {
		return err
	}
	if len(f.args) > 0 {
		return fmt.Errorf("unknown command %q for \"istioctl install\"", f.args[0])
	}
	spec := map[string]any{}
	for _, file := range f.all("filename") {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("could not read values from file %s: %v", file, err)
		}
		var iop map[string]any
		if err := yaml.Unmarshal(b, &iop); err != nil {
			return fmt.Errorf("could not unmarshal %s: %v", file, err)
		}
		if iop["kind"] != "IstioOperator" {
			return fmt.Errorf("%s: expected kind IstioOperator (install.istio.io/v1alpha1), got %v", file, iop["kind"])
		}
		if s, ok := iop["spec"].(map[string]any); ok {
			deepMerge(spec, s)
		}
	}
	if r := f.str("revision"); r != "" {
		spec["revision"] = r
	}
	for _, s := range f.all("set") {
		path, val, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("--set %q: must be of the form path=value", s)
		}
		setPath(spec, strings.Split(path, "."), parseScalar(val))
	}
	if spec["profile"] == nil {
		spec["profile"] = "default"
	}
	// install has no namespace flag: the root's -i is accepted and ignored.
	// The namespace is the IstioOperator's (iop.Namespace in
	// operator/pkg/apis/istio/v1alpha1/common.go, 1.5-1.23: spec.namespace,
	// else values.global.istioNamespace; from 1.24 only the latter,
	// operator/pkg/render/manifest.go), the profiles' istio-system by default.
	c := &controlPlane{ns: installNamespace(spec, t.v), version: t.version, spec: spec}
	c.profile, _ = spec["profile"].(string)
	c.revision, _ = spec["revision"].(string)
	c.hub, _ = spec["hub"].(string)
	c.tag, _ = spec["tag"].(string)
	if c.revision != "" && !revisionRE.MatchString(c.revision) {
		return fmt.Errorf("generate config: invalid revision specified: %q (must be a DNS label: lowercase letters, digits and '-')", c.revision)
	}
	c.gateways = gatewaysFor(spec, c.profile, c.ns)

	// CAIRN_FAKE_READINESS_TIMEOUT lets a test make a stuck install fail
	// in seconds, as the real one fails after its 5m default.
	timeout := 5 * time.Minute
	s := f.str("readiness-timeout")
	if s == "" {
		s = os.Getenv("CAIRN_FAKE_READINESS_TIMEOUT")
	}
	if s != "" {
		if timeout, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("invalid --readiness-timeout %q: %v", s, err)
		}
	}
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	existing, err := k.controlPlanes(c.ns)
	if err != nil {
		return fmt.Errorf("failed to connect to Kubernetes API server: %v", err)
	}
	var others []runningControlPlane
	for _, cp := range existing {
		if cp.revision != c.revLabel() {
			others = append(others, cp)
		}
	}
	upgradeWarnings(others, c.revision, t.version, t.errOut)
	if f.boolean("dry-run", false) {
		fmt.Fprintln(t.out, "✔ Istio core installed\n✔ Istiod installed\n✔ Installation complete (dry run: nothing changed)")
		return nil
	}
	components := `"Istio core" "Istiod"`
	if len(c.gateways) > 0 {
		components += ` "Ingress gateways"`
	}
	if !f.boolean("skip-confirmation", false) &&
		!confirm(fmt.Sprintf("This will install the Istio %s %s profile with [%s] components into the cluster. Proceed? (y/N)", t.version, c.profile, components), t.out) {
		fmt.Fprintln(t.out, "Cancelled.")
		return exitCode(1)
	}
	if err := installControlPlane(k, c, t.out, timeout); err != nil {
		return err
	}
	if v, ok := parseVersion(t.version); ok {
		fmt.Fprintf(t.out, "Thank you for installing Istio %d.%d.  Please take a few minutes to tell us about your install/upgrade experience!  https://forms.gle/99uiMML96AmsXY5d6\n", v.major, v.minor)
	}
	return nil
}

func installNamespace(spec map[string]any, v semver) string {
	if s, ok := spec["namespace"].(string); ok && s != "" && v.minor < 24 && v.minor > 5 {
		return s
	}
	if vals, ok := spec["values"].(map[string]any); ok {
		if g, ok := vals["global"].(map[string]any); ok {
			if s, ok := g["istioNamespace"].(string); ok && s != "" {
				return s
			}
		}
	}
	return "istio-system"
}

// gatewaysFor applies the profile default and spec.components.ingressGateways.
func gatewaysFor(spec map[string]any, profile, ns string) []gateway {
	var out []gateway
	comps, _ := spec["components"].(map[string]any)
	list, listed := comps["ingressGateways"].([]any)
	if !listed {
		if gatewayProfiles[profile] {
			out = append(out, gateway{name: "istio-ingressgateway", ns: ns})
		}
		return out
	}
	for _, item := range list {
		m, _ := item.(map[string]any)
		name, _ := m["name"].(string)
		if name == "" {
			name = "istio-ingressgateway"
		}
		gns, _ := m["namespace"].(string)
		if gns == "" {
			gns = ns
		}
		enabled, set := m["enabled"].(bool)
		if enabled || (!set && name == "istio-ingressgateway" && gatewayProfiles[profile]) {
			out = append(out, gateway{name: name, ns: gns})
		}
	}
	return out
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func parseScalar(s string) any {
	if b, err := strconv.ParseBool(s); err == nil {
		return b
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}
