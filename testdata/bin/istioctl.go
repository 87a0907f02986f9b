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

// istioctl: the subset of the CLI the playbooks use. Errors print as cobra
// does ("Error: ...") and exit 1.

var istioGlobalFlags = []flag{strFlag("kubeconfig", "c"), strFlag("context"), strFlag("istioNamespace", "i"), strFlag("vklog"), strFlag("log_output_level")}

type istioctl struct {
	inv     *invocation
	version string
	out     io.Writer
	errOut  io.Writer
}

func runIstioctl(inv *invocation) int {
	t := &istioctl{inv: inv, version: inv.version(), out: os.Stdout, errOut: os.Stderr}
	err := t.run(inv.args)
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	}
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	return 1
}

func (t *istioctl) run(args []string) error {
	cmd, rest := "", args
	// The command is the first non-flag argument; global flags may precede it.
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			cmd, rest = a, append(append([]string{}, args[:i]...), args[i+1:]...)
			break
		}
	}
	if cmd == "x" || cmd == "experimental" {
		sub, r := "", rest
		for i, a := range rest {
			if !strings.HasPrefix(a, "-") {
				sub, r = a, append(append([]string{}, rest[:i]...), rest[i+1:]...)
				break
			}
		}
		switch sub {
		case "precheck":
			return t.precheck(r)
		case "create-remote-secret":
			return t.createRemoteSecret(r)
		default:
			return fmt.Errorf("unknown command %q for \"istioctl experimental\"", sub)
		}
	}
	switch cmd {
	case "version":
		return t.versionCmd(rest)
	case "install", "apply":
		return t.install(rest)
	case "uninstall":
		return t.uninstall(rest)
	case "tag":
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
		return fmt.Errorf("unknown command %q for \"istioctl\"\nRun 'istioctl --help' for usage", cmd)
	}
}

// parse parses a subcommand's flags plus istioctl's global ones.
func (t *istioctl) parse(args []string, specs ...flag) (*flags, error) {
	return parseFlags(args, append(specs, istioGlobalFlags...), parseOpts{})
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
	c := &controlPlane{ns: istioNS(f), version: t.version, spec: spec}
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
