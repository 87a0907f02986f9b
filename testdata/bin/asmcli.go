package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// kubectlCSAManager is the field manager of `kubectl apply` without
// --server-side (kubectl's FieldManagerClientSideApply).
const kubectlCSAManager = "kubectl-client-side-apply"

// clientSideApplyCreate creates svc as `kubectl apply -f` does for an
// object that does not exist: the manifest is recorded in the
// kubectl.kubernetes.io/last-applied-configuration annotation and the
// create is made under the field manager kubectl-client-side-apply.
func (k *kube) clientSideApplyCreate(svc *corev1.Service) error {
	b, err := json.Marshal(svc)
	if err != nil {
		return err
	}
	// The annotation holds the manifest as written: no status, no
	// server-set metadata.
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	last, err := json.Marshal(m)
	if err != nil {
		return err
	}
	svc = svc.DeepCopy()
	svc.Annotations = mergeMaps(svc.Annotations, map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(last) + "\n"})
	_, err = k.cs.CoreV1().Services(svc.Namespace).Create(k.ctx, svc, metav1.CreateOptions{FieldManager: kubectlCSAManager})
	return err
}

// asmcli and install_asm print "NAME: message" lines and fail with
// "NAME: [ERROR]: message", exit 2, like the real scripts' fatal().

type scriptTool struct {
	name string
	inv  *invocation
}

func (s *scriptTool) info(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", s.name, fmt.Sprintf(format, a...))
}

func (s *scriptTool) warn(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s: [WARNING]: %s\n", s.name, fmt.Sprintf(format, a...))
}

func (s *scriptTool) fatal(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "%s: [ERROR]: %s\n", s.name, fmt.Sprintf(format, a...))
	return 2
}

// asmRelease is the ASM release an asmcli copy installs: the MAJOR, MINOR,
// POINT and REV lines of its wrapper script (install.sh writes them; bash
// passes the evaluated values in FAKEBINS_ASM_RELEASE), else the version file.
func asmRelease(inv *invocation) string {
	if r := os.Getenv(envASMRelease); r != "" {
		return r
	}
	return inv.version()
}

// revisionLabel is asmcli's REVISION_LABEL: 1.14.0-asm.1 -> asm-1140-1.
func revisionLabel(release string) string {
	core, rev, _ := strings.Cut(release, "-asm.")
	return "asm-" + strings.ReplaceAll(core, ".", "") + "-" + rev
}

var asmFlags = []flag{
	strFlag("kubeconfig", "kc"), strFlag("context", "ctx"), strFlag("project_id", "p"), strFlag("cluster_location", "l"), strFlag("cluster_name", "n"),
	strFlag("platform"), strFlag("fleet_id"), strFlag("output_dir", "D"), boolFlag("enable_all", "e"), boolFlag("enable_registration"),
	boolFlag("enable_cluster_roles"), boolFlag("enable_cluster_labels"), boolFlag("enable_gcp_components"), boolFlag("enable_gcp_apis"),
	boolFlag("enable_gcp_iam_roles"), boolFlag("enable_meshconfig_init"), boolFlag("enable_namespace_creation"), boolFlag("enable_apis"),
	strFlag("ca"), strFlag("ca_cert"), strFlag("ca_key"), strFlag("root_cert"), strFlag("cert_chain"), strFlag("ca_pool"),
	strFlag("custom_overlay"), strFlag("option", "o"), boolFlag("verbose", "v"), boolFlag("dry_run"), boolFlag("only_validate"),
	boolFlag("only_enable"), strFlag("revision_name"), strFlag("channel"), boolFlag("managed"), boolFlag("use_managed_cni"),
	boolFlag("use_vpcsc"), strFlag("network_id"), strFlag("key_file", "k"), strFlag("service_account", "s"), boolFlag("legacy"),
	boolFlag("disable_canonical_service"), boolFlag("trust_fleet_identity"), boolFlag("help", "h"), boolFlag("version"),
	strFlag("mode", "m"), boolFlag("print_config"),
}

// asmcliFlags are the options of asmcli's parse_args at release-1.14,
// word for word (install_asm 1.11 has its own, asmFlags).
var asmcliFlags = []flag{
	strFlag("cluster_location", "l"), strFlag("cluster_name", "n"), strFlag("kubeconfig", "kc"), strFlag("context", "ctx"),
	strFlag("project_id", "p"), strFlag("mode", "m"), strFlag("fleet_id"), strFlag("network_id"), strFlag("ca", "c"),
	strFlag("ca_pool"), strFlag("option", "o"), strFlag("custom_overlay", "co"), boolFlag("enable_all", "e"),
	boolFlag("enable_cluster_roles"), boolFlag("enable_cluster_labels"), boolFlag("enable_gcp_apis"), boolFlag("enable_gcp_iam_roles"),
	boolFlag("enable_gcp_components"), boolFlag("enable_registration"), boolFlag("enable_namespace_creation"),
	boolFlag("enable_meshconfig_init"), boolFlag("managed"), boolFlag("legacy"), boolFlag("use_vpcsc"), boolFlag("use_managed_cni"),
	boolFlag("disable_canonical_service"), boolFlag("print_config"), strFlag("service_account", "s"), strFlag("key_file", "k"),
	strFlag("output_dir", "D"), boolFlag("dry_run"), boolFlag("only_validate"), boolFlag("only_enable"), strFlag("ca_cert"),
	strFlag("ca_key"), strFlag("root_cert"), strFlag("cert_chain"), strFlag("revision_name", "r"), strFlag("platform"),
	strFlag("channel"), boolFlag("offline"), boolFlag("verbose", "v"), boolFlag("help", "h"), boolFlag("version"), boolFlag("disable_ui"),
}

func runAsmcli(inv *invocation) int {
	s := &scriptTool{name: "asmcli", inv: inv}
	release := asmRelease(inv)
	if len(inv.args) == 0 {
		return s.fatal("A subcommand is required: install, validate, print-config, create-mesh, build-offline-package")
	}
	if inv.args[0] == "--version" || inv.args[0] == "version" {
		fmt.Println(release + "+config1")
		return 0
	}
	sub := inv.args[0]
	if msg := asmcliArgError(inv.args[1:]); msg != "" {
		return s.fatal("%s", msg)
	}
	f, err := parseFlags(inv.args[1:], asmcliFlags, parseOpts{underscoreDash: true})
	if err != nil {
		return s.fatal("%s", strings.Replace(err.Error(), "unknown flag: ", "Unknown option ", 1))
	}
	if f.boolean("version", false) {
		fmt.Println(release + "+config1")
		return 0
	}
	switch sub {
	case "install", "validate":
	default:
		return s.fatal("Unknown subcommand %s (the fake asmcli supports install and validate)", sub)
	}
	if len(f.args) > 0 {
		return s.fatal("Unknown option %s", f.args[0])
	}
	if code := s.validate(f); code != 0 {
		return code
	}
	if sub == "validate" || f.boolean("only_validate", false) {
		s.info("Successfully validated all requirements to install ASM.")
		return 0
	}
	rev := f.str("revision_name")
	if rev == "" {
		rev = revisionLabel(release)
	}
	profile := "asm-multicloud"
	if f.str("platform") == "gcp" {
		profile = "asm-gcp"
	}
	return s.installInCluster(f, release, rev, profile)
}

// asmcliArgError refuses what asmcli's parse_args (release-1.14) refuses
// before any flag takes effect: its case patterns match whole words only
// (-p, --project_id, --project-id, --kc, --ctx; no --flag=value, no -pVALUE,
// no --p), anything else is "Unknown option WORD"; and arg_required wants a
// value after each option that takes one, neither empty nor starting with
// "-": "Option WORD requires an argument."
// Each option with an underscore also has a dashed form, but for
// --disable_ui; --mode (deprecated, ignored) takes its value unchecked.
func asmcliArgError(args []string) string {
	takes := map[string]flag{}
	for _, fl := range asmcliFlags {
		for _, n := range fl.names {
			if len(n) == 1 {
				takes["-"+n] = fl
				continue
			}
			takes["--"+n] = fl
			if fl.names[0] != "disable_ui" {
				takes["--"+strings.ReplaceAll(n, "_", "-")] = fl
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		fl, known := takes[a]
		switch {
		case !known:
			return "Unknown option " + a
		case fl.value && fl.names[0] != "mode" && (i+1 >= len(args) || args[i+1] == "" || strings.HasPrefix(args[i+1], "-")):
			return "Option " + a + " requires an argument."
		case fl.value:
			i++
		}
	}
	return ""
}

// validate checks what the real asmcli checks before touching the cluster.
func (s *scriptTool) validate(f *flags) int {
	kc := f.str("kubeconfig")
	gke := f.str("project_id") != "" && f.str("cluster_location") != "" && f.str("cluster_name") != ""
	if kc == "" && !gke {
		return s.fatal("At least one of the following is required: 1) --project_id, --cluster_name, --cluster_location or 2) --kubeconfig.")
	}
	if kc != "" {
		if _, err := os.Stat(kc); err != nil {
			return s.fatal("Couldn't find file %s.", kc)
		}
	}
	switch f.str("platform") {
	case "", "gcp":
	case "multicloud":
		if f.str("fleet_id") == "" {
			return s.fatal("When --platform multicloud is specified, --fleet_id is required.")
		}
	default:
		return s.fatal("Platform must be one of: gcp, multicloud.")
	}
	switch f.str("ca") {
	case "", "mesh_ca", "gcp_cas", "citadel", "managed_cas":
	default:
		return s.fatal("CA must be one of: mesh_ca, gcp_cas, citadel, managed_cas")
	}
	for _, o := range f.all("custom_overlay") {
		if _, err := os.Stat(o); err != nil {
			return s.fatal("Couldn't find yaml file %s.", o)
		}
	}
	return 0
}

// overlaySpec merges the IstioOperator overlays given with --custom_overlay.
func overlaySpec(files []string) (map[string]any, error) {
	spec := map[string]any{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var iop map[string]any
		if err := yaml.Unmarshal(b, &iop); err != nil {
			return nil, fmt.Errorf("%s is not valid YAML: %v", file, err)
		}
		if iop["kind"] != "IstioOperator" {
			return nil, fmt.Errorf("%s is not an IstioOperator (kind %v)", file, iop["kind"])
		}
		if sp, ok := iop["spec"].(map[string]any); ok {
			deepMerge(spec, sp)
		}
	}
	return spec, nil
}

func (s *scriptTool) installInCluster(f *flags, release, rev, profile string) int {
	spec, err := overlaySpec(f.all("custom_overlay"))
	if err != nil {
		return s.fatal("%v", err)
	}
	spec["profile"], spec["revision"], spec["hub"], spec["tag"] = profile, rev, "gcr.io/gke-release/asm", release
	out, code := s.outputDir(f)
	if code != 0 {
		return code
	}
	s.info("Setting up necessary files...")
	s.info("Using %s as the kubeconfig...", f.str("kubeconfig"))
	k, err := newKube(f.str("kubeconfig"), f.str("context"))
	if err == nil {
		err = k.reachable()
	}
	if err != nil {
		return s.fatal("Couldn't connect to the cluster: %v", err)
	}
	s.info("Verifying connectivity (20s)...")
	s.info("kubeconfig set to %s", f.str("kubeconfig"))
	s.info("using context %s", k.context)
	s.info("Downloading ASM..")
	// The real asmcli unpacks the release (istioctl included) into
	// --output_dir before it installs, so a failed install leaves it there.
	istioctl, err := s.writeIstioctl(out, release)
	if err != nil {
		return s.fatal("%v", err)
	}
	if code := s.validationFix(k, rev); code != 0 {
		return code
	}
	s.info("Installing ASM control plane...")
	c := &controlPlane{ns: "istio-system", revision: rev, version: release, hub: "gcr.io/gke-release/asm", profile: profile, spec: spec}
	// asmcli installs no gateway unless an overlay asks for one.
	c.gateways = gatewaysFor(spec, "", c.ns)
	var progress strings.Builder
	timeout := 5 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("CAIRN_FAKE_READINESS_TIMEOUT")); err == nil {
		timeout = d // tests of a stuck install, as in istioctl
	}
	if err := installControlPlane(k, c, &progress, timeout); err != nil {
		return s.fatal("%v", err)
	}
	manifest, _ := yaml.Marshal(c.installedState().Object)
	_ = os.WriteFile(filepath.Join(out, rev+"-manifest-raw.yaml"), manifest, 0o644)
	s.info("...done!")
	s.info("")
	s.info("*****************************")
	s.info("The ASM control plane installation is now complete.")
	s.info("To enable automatic sidecar injection on a namespace, you can use the following command:")
	s.info("kubectl label namespace <NAMESPACE> istio-injection- istio.io/rev=%s --overwrite", rev)
	s.info("If you use 'istioctl install' afterwards to modify this installation, you will need")
	s.info("to specify the option '--set revision=%s' to target this control plane", rev)
	s.info("instead of installing a new one.")
	s.info("The version of istioctl that matches the installation can be found at:")
	s.info("%s", istioctl)
	s.info("A symlink to the istioctl binary can be found at:")
	s.info("%s", filepath.Join(out, "istioctl"))
	s.info("*****************************")
	s.info("Successfully installed ASM.")
	return 0
}

// validationFix is asmcli's install_in_cluster_control_plane: when Service
// istiod does not exist (does_istiod_exist), it applies
// asm/istio/istiod-service.yaml with the revision set, by a client-side
// `kubectl apply --overwrite=true -f`: the Service gets kubectl's
// last-applied-configuration annotation and its fields belong to the field
// manager kubectl-client-side-apply. A later install leaves it alone.
func (s *scriptTool) validationFix(k *kube, rev string) int {
	const ns = "istio-system"
	_, err := k.cs.CoreV1().Services(ns).Get(k.ctx, "istiod", metav1.GetOptions{})
	if err == nil {
		return 0
	}
	if !apierrors.IsNotFound(err) {
		return s.fatal("%v", err)
	}
	s.info("Installing validation webhook fix...")
	if err := k.ensureNamespace(ns); err != nil {
		return s.fatal("%v", err)
	}
	lbl := map[string]string{labelRev: rev, "app": "istiod", "istio": "pilot", "release": "istio"}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: ns, Labels: lbl},
		Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{
				{Port: 15010, Name: "grpc-xds", Protocol: corev1.ProtocolTCP},
				{Port: 15012, Name: "https-dns", Protocol: corev1.ProtocolTCP},
				{Port: 443, Name: "https-webhook", TargetPort: intstr.FromInt32(15017), Protocol: corev1.ProtocolTCP},
				{Port: 15014, Name: "http-monitoring", Protocol: corev1.ProtocolTCP},
			},
			Selector: map[string]string{"app": "istiod", labelRev: rev},
		},
	}
	if err := k.clientSideApplyCreate(svc); err != nil {
		return s.fatal("%v", err)
	}
	return 0
}

func (s *scriptTool) outputDir(f *flags) (string, int) {
	out := f.str("output_dir")
	if out == "" {
		d, err := os.MkdirTemp("", "asmcli-out-")
		if err != nil {
			return "", s.fatal("%v", err)
		}
		out = d
		s.info("--output_dir not specified, using %s", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", s.fatal("Couldn't create output directory %s: %v", out, err)
	}
	abs, _ := filepath.Abs(out)
	return abs, 0
}

// writeIstioctl lays out the istioctl of the release in the output dir as
// asmcli does (ISTIOCTL_REL_PATH and `ln -s "${ISTIOCTL_REL_PATH}" .`):
// OUT/istio-RELEASE/bin/istioctl and OUT/istioctl. There is no
// OUT/asm-MAJOR.MINOR/istioctl (the path seed 002 shows). Each is a
// symlink to this binary with a fake-version beside it.
func (s *scriptTool) writeIstioctl(out, release string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	dirs := []string{filepath.Join(out, "istio-"+release, "bin"), out}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		link := filepath.Join(d, "istioctl")
		_ = os.Remove(link)
		if err := os.Symlink(self, link); err != nil {
			return "", err
		}
		name := versionFile
		if d == out {
			name = "istioctl" + versionFileExt // OUT itself may hold other files
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte(release+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dirs[0], "istioctl"), nil
}

// optionsKey is the canonical form of the flags that shape a managed
// install, to notice a rerun with different ones.
func optionsKey(f *flags) string {
	var parts []string
	for name, vals := range f.vals {
		switch name {
		case "verbose", "dry_run", "output_dir", "help":
			continue
		}
		vs := append([]string{}, vals...)
		sort.Strings(vs)
		parts = append(parts, name+"="+strings.Join(vs, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
