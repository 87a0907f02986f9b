package main

import (
	"fmt"
	"os"
	"path/filepath"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
)

// The managed control plane's in-cluster footprint.
const (
	managedRevision = "asm-managed-rapid"
	// managedInjectorURL stands in for the Cloud Run URL of Google's injector.
	// Nothing listens on port 9 of loopback, so calls fail at once (Ignore).
	managedInjectorURL = "https://127.0.0.1:9/inject/cluster/%s/net/%s"
	optionsConfigMap   = "asm-options"
)

var dpcGVR = schema.GroupVersionResource{Group: "mesh.cloud.google.com", Version: "v1alpha1", Resource: "dataplanecontrols"}

var dpcCRD = crdSpec{gvr: dpcGVR, kind: "DataPlaneControl", status: true,
	columns: []string{"Revision=.spec.revision", "Version=.spec.proxyVersion", "Status=.status.state"}}

var cprGVR = schema.GroupVersionResource{Group: "mesh.cloud.google.com", Version: "v1beta1", Resource: "controlplanerevisions"}

var cprCRD = crdSpec{gvr: cprGVR, kind: "ControlPlaneRevision", namespaced: true, status: true}

// managedChannels are the ControlPlaneRevisions install_asm applies
// (asm/control-plane-revision/cr_{regular,rapid,stable}.yaml).
var managedChannels = []struct{ name, channel string }{
	{"asm-managed", "regular"}, {"asm-managed-rapid", "rapid"}, {"asm-managed-stable", "stable"},
}

func runInstallASM(inv *invocation) int {
	s := &scriptTool{name: "install_asm", inv: inv}
	release := inv.version()
	f, err := parseFlags(inv.args, asmFlags, parseOpts{underscoreDash: true})
	if err != nil {
		return s.fatal("%s", err)
	}
	if f.boolean("version", false) {
		fmt.Println(release + "-config1")
		return 0
	}
	if len(f.args) > 0 {
		return s.fatal("Unknown option %s", f.args[0])
	}
	for _, req := range []struct{ flag, name string }{{"mode", "--mode"}, {"project_id", "--project_id"}, {"cluster_location", "--cluster_location"}, {"cluster_name", "--cluster_name"}} {
		if f.str(req.flag) == "" {
			return s.fatal("Missing value for %s", req.name)
		}
	}
	switch f.str("mode") {
	case "install", "migrate", "upgrade":
	default:
		return s.fatal("Mode must be one of: install, migrate, upgrade")
	}
	if code := s.validate(f); code != 0 {
		return code
	}
	if f.boolean("only_validate", false) {
		s.info("Successfully validated all requirements to install ASM.")
		return 0
	}
	if !f.boolean("managed", false) {
		rev := f.str("revision_name")
		if rev == "" {
			rev = revisionLabel(release)
		}
		return s.installInCluster(f, release, rev, "asm-gcp")
	}
	return s.installManaged(f, release)
}

// installManaged applies the Google-managed control plane's in-cluster
// objects: no istiod, but the asm-managed-rapid injection webhook (URL
// based; the real one comes from the provisioning call), its mesh
// ConfigMap, the ControlPlaneRevision and DataPlaneControl CRDs, a
// ControlPlaneRevision per channel (no DataPlaneControl object), and an
// asm-options ConfigMap recording the flags (a rerun with other flags
// overwrites the configuration; the real script says to repeat the flags).
func (s *scriptTool) installManaged(f *flags, release string) int {
	out, code := s.outputDir(f)
	if code != 0 {
		return code
	}
	s.info("Setting up necessary files...")
	k, err := newKube(f.str("kubeconfig"), f.str("context"))
	if err == nil {
		err = k.reachable()
	}
	if err != nil {
		return s.fatal("Couldn't connect to the cluster %s: %v", f.str("cluster_name"), err)
	}
	s.info("Fetching/writing GCP credentials to kubeconfig file...")
	if err := clientcmd.WriteToFile(k.raw, filepath.Join(out, "asm_kubeconfig")); err != nil {
		return s.fatal("%v", err)
	}
	const ns = "istio-system"
	if err := k.ensureNamespace(ns); err != nil {
		return s.fatal("%v", err)
	}
	key := optionsKey(f)
	cm, err := k.cs.CoreV1().ConfigMaps(ns).Get(k.ctx, optionsConfigMap, metav1.GetOptions{})
	if err == nil && cm.Data["options"] != key {
		s.warn("install_asm was run before on this cluster with different options (%s); the managed control plane configuration is overwritten with: %s", cm.Data["options"], key)
	} else if err != nil && !apierrors.IsNotFound(err) {
		return s.fatal("%v", err)
	}
	// start_managed_control_plane and install_managed_components
	// (scripts/asm-installer/install_asm, legacy-release-1.11): the
	// ControlPlaneRevision CRD, then options/cni-managed.yaml, which holds
	// the DataPlaneControl CRD but no DataPlaneControl (the fleet's
	// managed data plane creates those once `mesh enable` ran), then
	// the ControlPlaneRevision of each channel.
	s.info("Configuring ASM managed control plane revision CRD...")
	if err := k.ensureCRD(cprCRD); err != nil {
		return s.fatal("%v", err)
	}
	s.info("Installing CNI into the cluster...")
	if err := k.ensureCRD(dpcCRD); err != nil {
		return s.fatal("%v", err)
	}
	for _, ch := range managedChannels {
		s.info("Configuring ASM managed control plane revision CR for %s channel...", ch.channel)
		cpr := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "mesh.cloud.google.com/v1beta1", "kind": "ControlPlaneRevision",
			"metadata": map[string]any{"name": ch.name, "namespace": ns},
			"spec":     map[string]any{"type": "managed_service", "channel": ch.channel},
		}}
		if err := k.applyUnstructured(cprGVR, cpr); err != nil {
			return s.fatal("%v", err)
		}
	}
	labels := map[string]string{labelRev: managedRevision, "app": "sidecar-injector", labelVersion: release, "istio.io/owned-by": "mesh.googleapis.com"}
	cc := admv1.WebhookClientConfig{URL: ptr(fmt.Sprintf(managedInjectorURL, f.str("cluster_name"), "default"))}
	mwc := &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-" + managedRevision, Labels: labels},
		Webhooks:   injectionWebhooks(managedRevision, cc),
	}
	if err := k.applyMWC(mwc); err != nil {
		return s.fatal("%v", err)
	}
	meshCfg := fmt.Sprintf("defaultConfig:\n  proxyMetadata:\n    CA_PROVIDER: GoogleCA\ntrustDomain: %s.svc.id.goog\n", f.str("project_id"))
	for _, c := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "istio-" + managedRevision, Namespace: ns, Labels: map[string]string{labelRev: managedRevision}}, Data: map[string]string{"mesh": meshCfg}},
		{ObjectMeta: metav1.ObjectMeta{Name: optionsConfigMap, Namespace: ns}, Data: map[string]string{"ASM_OPTS": "CNI=on", "options": key, "release": release}},
	} {
		if err := k.applyConfigMap(c); err != nil {
			return s.fatal("%v", err)
		}
	}
	if err := k.ensureServiceAccount(ns, "istio-reader-service-account", map[string]string{"app": "istio-reader", "release": "istio"}); err != nil {
		return s.fatal("%v", err)
	}
	istioctl, err := s.writeIstioctl(out, release)
	if err != nil {
		return s.fatal("%v", err)
	}
	s.info("Provisioning control plane...")
	s.info("...done!")
	s.info("The ASM control plane installation is now complete.")
	s.info("To enable automatic sidecar injection on a namespace, you can use the following command:")
	s.info("kubectl label namespace <NAMESPACE> istio-injection- istio.io/rev=%s --overwrite", managedRevision)
	s.info("The version of istioctl that matches the installation can be found at:")
	s.info("%s", istioctl)
	s.info("Successfully installed ASM.")
	if _, err := os.Stat(istioctl); err != nil {
		return s.fatal("%v", err)
	}
	return 0
}
