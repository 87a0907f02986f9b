package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// installControlPlane creates or updates everything of one istiod revision,
// then waits for its Deployments to roll out (istioctl waits for readiness
// too). It prints the progress lines of istioctl's installer to out.
func installControlPlane(k *kube, c *controlPlane, out io.Writer, timeout time.Duration) error {
	if c.tag == "" {
		c.tag = c.version
	}
	if c.hub == "" {
		c.hub = defaultHub(c.version)
	}
	// Istio core: namespace, IstioOperator CRD, base service account.
	if err := k.ensureNamespace(c.ns); err != nil {
		return fmt.Errorf("failed to create namespace %s: %w", c.ns, err)
	}
	if err := k.ensureCRD(iopCRD); err != nil {
		return err
	}
	if err := k.ensureServiceAccount(c.ns, "istio-reader-service-account", map[string]string{"app": "istio-reader", "release": "istio", labelComponent: "Base"}); err != nil {
		return err
	}
	fmt.Fprintln(out, "✔ Istio core installed")

	dep, svc, hpa, pdb := c.istiodObjects()
	if err := k.applyDeployment(dep); err != nil {
		return fmt.Errorf("Istiod encountered an error: %w", err)
	}
	if err := k.applyService(svc); err != nil {
		return fmt.Errorf("Istiod encountered an error: %w", err)
	}
	hpaAPI := k.cs.AutoscalingV2().HorizontalPodAutoscalers(c.ns)
	if cur, err := hpaAPI.Get(k.ctx, hpa.Name, metav1.GetOptions{}); err == nil {
		cur.Labels, cur.Spec = hpa.Labels, hpa.Spec
		_, err = hpaAPI.Update(k.ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if _, err := hpaAPI.Create(k.ctx, hpa, metav1.CreateOptions{}); err != nil {
		return err
	}
	pdbAPI := k.cs.PolicyV1().PodDisruptionBudgets(c.ns)
	if cur, err := pdbAPI.Get(k.ctx, pdb.Name, metav1.GetOptions{}); err == nil {
		cur.Labels, cur.Spec = pdb.Labels, pdb.Spec
		_, err = pdbAPI.Update(k.ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if _, err := pdbAPI.Create(k.ctx, pdb, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := k.applyMWC(c.injectorMWC()); err != nil {
		return err
	}
	if c.perRevisionValidator() {
		if err := k.applyVWC(c.validatorVWC()); err != nil {
			return err
		}
	} else if err := k.ensureVWC(c.baseValidatorVWC()); err != nil {
		return err
	}
	if c.legacy() {
		// 1.5 also has Service istio-pilot beside istiod.
		pilot := svc.DeepCopy()
		pilot.Name, pilot.Labels = "istio-pilot", map[string]string{"app": "pilot", "istio": "pilot", "release": "istio"}
		if err := k.applyService(pilot); err != nil {
			return fmt.Errorf("Istiod encountered an error: %w", err)
		}
	}
	fmt.Fprintln(out, "✔ Istiod installed") // applied; the wait comes at the end, as istioctl's

	// The gateway components are applied once Pilot's manifests are, not
	// once istiod is ready (helmreconciler's component dependencies); the
	// readiness wait covers everything at the end. So an install whose
	// istiod never comes up has already taken over an existing gateway.
	for _, g := range c.gateways {
		if _, err := k.cs.CoreV1().Namespaces().Get(k.ctx, g.ns, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("Ingress gateways encountered an error: namespaces %q not found", g.ns)
		}
		gd, gs := c.gatewayObjects(g)
		if err := k.applyDeployment(gd); err != nil {
			return err
		}
		if err := k.applyService(gs); err != nil {
			return err
		}
	}
	if len(c.gateways) > 0 {
		fmt.Fprintln(out, "✔ Ingress gateways installed")
	}
	if err := k.waitDeployments(c.ns, []string{dep.Name}, timeout); err != nil {
		return fmt.Errorf("Istiod encountered an error: failed to wait for resource: %w", err)
	}
	for _, g := range c.gateways {
		if err := k.waitDeployments(g.ns, []string{g.name}, timeout); err != nil {
			return fmt.Errorf("Ingress gateways encountered an error: failed to wait for resource: %w", err)
		}
	}
	if err := k.applyUnstructured(iopGVR, c.installedState()); err != nil {
		return fmt.Errorf("failed to save installed state IstioOperator %s/%s: %w", c.ns, c.iopName(), err)
	}
	fmt.Fprintln(out, "✔ Installation complete")
	return nil
}

// ensureVWC creates v unless it exists (the base component's objects are
// shared by every revision).
func (k *kube) ensureVWC(v *admv1.ValidatingWebhookConfiguration) error {
	_, err := k.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(k.ctx, v, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (k *kube) ensureServiceAccount(ns, name string, labels map[string]string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
	_, err := k.cs.CoreV1().ServiceAccounts(ns).Create(k.ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// runningControlPlane is an istiod Deployment found in the istio namespace.
type runningControlPlane struct {
	name, revision, version string
}

// controlPlanes lists the istiod Deployments (label app=istiod) in ns.
func (k *kube) controlPlanes(ns string) ([]runningControlPlane, error) {
	ds, err := k.cs.AppsV1().Deployments(ns).List(k.ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return nil, err
	}
	var out []runningControlPlane
	for i := range ds.Items {
		d := &ds.Items[i]
		rev := d.Labels[labelRev]
		if rev == "" {
			rev = "default"
		}
		out = append(out, runningControlPlane{name: d.Name, revision: rev, version: deploymentVersion(d)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// upgradeWarnings are what istioctl prints before replacing or adding a
// control plane next to others of different versions. A revision-based
// (canary) upgrade may skip at most two minor versions, an in-place one one.
func upgradeWarnings(existing []runningControlPlane, revision, version string, out io.Writer) {
	to, ok := parseVersion(version)
	if !ok {
		return
	}
	limit, kind := 2, "a revision-based (canary) upgrade"
	if revision == "" || revision == "default" {
		limit, kind = 1, "an in-place upgrade"
	}
	seen := map[string]bool{}
	for _, cp := range existing {
		if seen[cp.version] || cp.version == version {
			continue
		}
		seen[cp.version] = true
		from, ok := parseVersion(cp.version)
		if !ok {
			continue
		}
		if from.less(to) {
			fmt.Fprintf(out, "WARNING: Istio is being upgraded from %s -> %s\n", cp.version, version)
			fmt.Fprintln(out, "WARNING: Before upgrading, you may wish to use 'istioctl analyze' to check for IST0002 and IST0135 deprecation warnings.")
		} else {
			fmt.Fprintf(out, "WARNING: Istio is being downgraded from %s -> %s\n", cp.version, version)
		}
		if from.major == to.major && to.minor-from.minor > limit {
			fmt.Fprintf(out, "WARNING: Istio control planes more than %d minor versions apart (%d.%d -> %d.%d) are not supported by %s; see https://istio.io/latest/docs/setup/upgrade/\n",
				limit, from.major, from.minor, to.major, to.minor, kind)
		}
	}
}
