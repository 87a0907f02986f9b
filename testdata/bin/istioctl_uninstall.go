package main

import (
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// prunable is one object `istioctl uninstall --revision` deletes.
type prunable struct {
	kind, ns, name string
	gateway        bool // an IngressGateways/EgressGateways Deployment
	del            func() error
}

// pruneComponents are the components uninstall --revision prunes (not Base).
var pruneComponents = map[string]bool{"Pilot": true, "IngressGateways": true, "EgressGateways": true, "Cni": true, "IstiodRemote": true, "IstioOperator": true}

// prunableByRevision lists what the real uninstall prunes: objects labelled
// istio.io/rev=REV and operator.istio.io/component in pruneComponents. That
// includes a revision tag webhook made by `istioctl tag set` pointing at REV.
// Objects without the component label (e.g. made by test fixtures) are pruned
// only under their canonical names istiod-REV, istio-sidecar-injector-REV and
// istio-validator-REV-NS.
func (k *kube) prunableByRevision(ns, rev string) ([]prunable, error) {
	c := &controlPlane{ns: ns, revision: rev}
	canonical := map[string]bool{c.istiod(): true, c.injector(): true, c.validator(): true, "istio-sidecar-injector" + suffix(rev): true}
	want := func(m metav1.ObjectMeta) bool {
		if m.Labels[labelRev] != c.revLabel() {
			return false
		}
		return pruneComponents[m.Labels[labelComponent]] || (m.Labels[labelComponent] == "" && canonical[m.Name])
	}
	sel := metav1.ListOptions{LabelSelector: labelRev + "=" + c.revLabel()}
	var out []prunable
	add := func(kind, ns, name string, del func() error) {
		out = append(out, prunable{kind: kind, ns: ns, name: name, del: del})
	}
	if l, err := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(k.ctx, sel); err == nil {
		for _, o := range l.Items {
			if want(o.ObjectMeta) {
				n := o.Name
				add("MutatingWebhookConfiguration", "", n, func() error {
					return k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(k.ctx, n, metav1.DeleteOptions{})
				})
			}
		}
	} else {
		return nil, err
	}
	if l, err := k.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(k.ctx, sel); err == nil {
		for _, o := range l.Items {
			if want(o.ObjectMeta) {
				n := o.Name
				add("ValidatingWebhookConfiguration", "", n, func() error {
					return k.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(k.ctx, n, metav1.DeleteOptions{})
				})
			}
		}
	}
	bg := metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}
	if l, err := k.cs.AppsV1().Deployments("").List(k.ctx, sel); err == nil {
		for _, o := range l.Items {
			if want(o.ObjectMeta) {
				n, s := o.Name, o.Namespace
				add("Deployment", s, n, func() error { return k.cs.AppsV1().Deployments(s).Delete(k.ctx, n, bg) })
				out[len(out)-1].gateway = strings.HasSuffix(o.Labels[labelComponent], "Gateways")
			}
		}
	}
	if l, err := k.cs.CoreV1().Services("").List(k.ctx, sel); err == nil {
		for _, o := range l.Items {
			if want(o.ObjectMeta) {
				n, s := o.Name, o.Namespace
				add("Service", s, n, func() error { return k.cs.CoreV1().Services(s).Delete(k.ctx, n, bg) })
			}
		}
	}
	if l, err := k.cs.PolicyV1().PodDisruptionBudgets("").List(k.ctx, sel); err == nil {
		for _, o := range l.Items {
			if want(o.ObjectMeta) {
				n, s := o.Name, o.Namespace
				add("PodDisruptionBudget", s, n, func() error { return k.cs.PolicyV1().PodDisruptionBudgets(s).Delete(k.ctx, n, bg) })
			}
		}
	}
	if l, err := k.cs.AutoscalingV2().HorizontalPodAutoscalers("").List(k.ctx, sel); err == nil {
		for _, o := range l.Items {
			if want(o.ObjectMeta) {
				n, s := o.Name, o.Namespace
				add("HorizontalPodAutoscaler", s, n, func() error { return k.cs.AutoscalingV2().HorizontalPodAutoscalers(s).Delete(k.ctx, n, bg) })
			}
		}
	}
	// The revision's IstioOperator, wherever it is (getIstioOperatorCR lists
	// them in every namespace).
	if l, err := k.dyn.Resource(iopGVR).List(k.ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			if o.GetName() == c.iopName() {
				n, s := o.GetName(), o.GetNamespace()
				add("IstioOperator", s, n, func() error { return k.dyn.Resource(iopGVR).Namespace(s).Delete(k.ctx, n, metav1.DeleteOptions{}) })
			}
		}
	}
	return out, nil
}

// uninstallFlags are uninstall's own (operator/cmd/mesh/uninstall.go): up to
// 1.19 it declares --istioNamespace without a shorthand, which shadows the
// root's -i, so `uninstall -i NS` fails with "unknown shorthand flag".
func (t *istioctl) uninstallFlags() []flag {
	fl := []flag{strFlag("revision", "r"), boolFlag("skip-confirmation", "y"), boolFlag("purge"), boolFlag("force"),
		strFlag("filename", "f"), strFlag("set", "s"), strFlag("manifests", "d"), boolFlag("dry-run"), boolFlag("verbose", "v")}
	if t.uninstallOwnsIstioNS() {
		fl = append(fl, strFlag("istioNamespace"), strFlag("kubeconfig", "c"), strFlag("context"))
	}
	return fl
}

func (t *istioctl) uninstall(args []string) error {
	f, err := t.parse(args, t.uninstallFlags()...)
	if err != nil {
		return err
	}
	rev := f.str("revision")
	if rev == "" && !f.boolean("purge", false) {
		return fmt.Errorf("at least one of the --revision (or --set revision=<revision>), --filename or --purge flags must be set")
	}
	if len(f.args) > 0 {
		return fmt.Errorf("istioctl uninstall does not take arguments")
	}
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	ns := istioNS(f)
	var objs []prunable
	revs := []string{rev}
	if f.boolean("purge", false) {
		cps, err := k.controlPlanes(ns)
		if err != nil {
			return err
		}
		revs = nil
		for _, cp := range cps {
			revs = append(revs, cp.revision)
		}
	}
	for _, r := range revs {
		o, err := k.prunableByRevision(ns, r)
		if err != nil {
			return fmt.Errorf("failed to get resources to prune: %v", err)
		}
		objs = append(objs, o...)
	}
	// preCheckWarnings: confirmation is needed for proxies still on the
	// revision and for gateways about to be removed (or for --purge); the
	// prune list is shown only with --verbose.
	var names, gateways []string
	for _, o := range objs {
		names = append(names, pruneName(o))
		if o.kind == "Deployment" && o.gateway {
			gateways = append(gateways, o.ns+"/"+o.name)
		}
	}
	if len(objs) == 0 && !f.boolean("purge", false) {
		fmt.Fprintln(t.out, "No resources will be pruned from the cluster. Please double check the input configs")
		return nil
	}
	need, msg := false, ""
	if f.boolean("purge", false) {
		need, msg = true, "All Istio resources will be pruned from the cluster\n"
	}
	if f.boolean("verbose", false) {
		msg += fmt.Sprintf("The following resources will be pruned from the cluster: %s\n", strings.Join(names, ","))
	}
	proxies, _ := k.proxies()
	var pids []string
	for _, p := range proxies {
		if rev != "" && p.revision == (&controlPlane{revision: rev}).revLabel() {
			pids = append(pids, p.name+"."+p.ns)
		}
	}
	if len(pids) > 0 {
		need = true
		msg += fmt.Sprintf("There are still %d proxies pointing to the control plane revision %s\n%s\nIf you proceed with the uninstall, these proxies will become detached from any control plane and will not function correctly.\n", len(pids), rev, strings.Join(pids, "\n"))
	}
	if len(gateways) > 0 {
		need = true
		msg += fmt.Sprintf("You are about to remove the following gateways: %s. To avoid downtime, please quit this command and reinstall the gateway(s) with a revision that is not being removed from the cluster.\n", strings.Join(gateways, ","))
	}
	switch {
	case f.boolean("skip-confirmation", false):
		fmt.Fprint(t.out, msg)
	case need && !confirm(msg+"Proceed? (y/N)", t.out):
		fmt.Fprintln(t.out, "Cancelled.")
		return exitCode(1)
	}
	if f.boolean("dry-run", false) {
		return nil
	}
	for _, o := range objs {
		if err := o.del(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete control plane resources by revision: %v", err)
		}
		fmt.Fprintf(t.out, "  Removed %s.\n", pruneName(o))
	}
	fmt.Fprintln(t.out, "✔ Uninstall complete")
	return nil
}

func pruneName(o prunable) string { return o.kind + ":" + o.ns + ":" + o.name }
