package main

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	admv1 "k8s.io/api/admissionregistration/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func yamlFromJSON(b []byte) ([]byte, error) { return yaml.JSONToYAML(b) }

func (t *istioctl) tag(args []string) error {
	sub, rest := "", args
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			sub, rest = a, append(append([]string{}, args[:i]...), args[i+1:]...)
			break
		}
	}
	switch sub {
	case "set":
		return t.tagSet(rest)
	case "list", "show":
		return t.tagList(rest)
	case "remove", "delete":
		return t.tagRemove(rest)
	default:
		return fmt.Errorf("unknown subcommand %q", sub)
	}
}

// webhooksWith lists MutatingWebhookConfigurations matching a label selector.
func (k *kube) webhooksWith(sel string) ([]admv1.MutatingWebhookConfiguration, error) {
	l, err := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(k.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items, nil
}

// revisionWebhooks are a revision's canonical injector webhooks (istio.io/rev=REV
// and no istio.io/tag), the way istioctl's GetWebhooksWithRevision finds them.
func (k *kube) revisionWebhooks(rev string) ([]admv1.MutatingWebhookConfiguration, error) {
	return k.webhooksWith(labelRev + "=" + rev + ",!" + labelTag)
}

func (k *kube) tagWebhooks(tag string) ([]admv1.MutatingWebhookConfiguration, error) {
	return k.webhooksWith(labelTag + "=" + tag)
}

// injectorClientConfig is the clientConfig of a configuration's injection webhook.
func injectorClientConfig(m *admv1.MutatingWebhookConfiguration) (admv1.WebhookClientConfig, bool) {
	for _, w := range m.Webhooks {
		if strings.HasSuffix(w.Name, "sidecar-injector.istio.io") {
			return w.ClientConfig, true
		}
	}
	return admv1.WebhookClientConfig{}, false
}

// tagSet follows istioctl/cmd/tag.go and istioctl/pkg/tag (1.15.4): the
// tag webhook is rendered from revision-tags.yaml, not copied: its Service
// is istiod-REV in the namespace given by the root's -i (istio-system by
// default), its caBundle and path come from REV's canonical webhook, and it
// is named istio-revision-tag-TAG, with -NS appended outside istio-system.
// For the tag "default" it first deactivates the default revision's own
// injector (selectors never match), deletes the base chart's validators
// (app=istiod, no "validator" in the name, e.g. istiod-istio-system) and
// writes istiod-default-validator for REV.
func (t *istioctl) tagSet(args []string) error {
	f, err := t.parse(args, strFlag("revision", "r"), boolFlag("overwrite"), boolFlag("skip-confirmation", "y"), strFlag("webhook-name"),
		strFlag("manifests", "d"), boolFlag("auto-inject-namespaces"))
	if err != nil {
		return err
	}
	switch {
	case len(f.args) == 0:
		return fmt.Errorf("must provide a tag for modification")
	case len(f.args) > 1:
		return fmt.Errorf("must provide a single tag for creation")
	case f.str("revision") == "":
		return fmt.Errorf(`required flag(s) "revision" not set`)
	}
	tag, rev, overwrite := f.args[0], f.str("revision"), f.boolean("overwrite", false)
	k, err := t.kube(f)
	if err != nil {
		return fmt.Errorf("failed to create Kubernetes client: %v", err)
	}
	if clash, err := k.revisionWebhooks(tag); err != nil {
		return err
	} else if !overwrite && len(clash) > 0 && tag != "default" {
		return fmt.Errorf("cannot create revision tag %q: found existing control plane revision with same name", tag)
	}
	revWhs, err := k.revisionWebhooks(rev)
	if err != nil {
		return err
	}
	if len(revWhs) == 0 {
		return fmt.Errorf("cannot modify tag: cannot find MutatingWebhookConfiguration with revision %q", rev)
	}
	if len(revWhs) > 1 {
		return fmt.Errorf("cannot modify tag: found multiple canonical webhooks with revision %q", rev)
	}
	existing, err := k.tagWebhooks(tag)
	if err != nil {
		return err
	}
	if len(existing) > 0 && !overwrite {
		return fmt.Errorf("revision tag %q already exists, and --overwrite is false", tag)
	}
	canon, ok := injectorClientConfig(&revWhs[0])
	if !ok {
		return fmt.Errorf("failed to create tag webhook config: could not find sidecar-injector webhook in canonical webhook %q", revWhs[0].Name)
	}
	ns := istioNS(f)
	revLabel := revWhs[0].Labels[labelRev]
	cc := renderedClientConfig(canon, ns, revLabel, "")
	name := f.str("webhook-name")
	if name == "" {
		name = "istio-revision-tag-" + tag + nsSuffix(ns)
	}
	mwc := &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			labelTag: tag, labelRev: revLabel, labelOwner: "unknown", labelComponent: "Pilot", "app": "sidecar-injector", "release": "istio",
		}},
		Webhooks: injectionWebhooks(tag, cc),
	}
	var vwc *admv1.ValidatingWebhookConfiguration
	if tag == "default" {
		if err := k.deactivateDefaultInjector(); err != nil {
			return fmt.Errorf("failed deactivating existing default revision: %w", err)
		}
		if err := k.deleteDeprecatedValidators(); err != nil {
			return fmt.Errorf("failed removing deprecated validating webhook: %w", err)
		}
		// Rendered from the default chart's validatingwebhook.yaml with
		// the mutating webhook's endpoint and caBundle (fixWhConfig).
		vwc = &admv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "istiod-default-validator", Labels: map[string]string{
				"app": "istiod", "istio": "istiod", labelRev: revLabel, labelTag: "default", labelComponent: "Pilot",
			}},
			Webhooks: []admv1.ValidatingWebhook{validatingWebhook("validation.istio.io", renderedClientConfig(canon, ns, revLabel, "/validate"),
				selector(expr(labelRev, metav1.LabelSelectorOpDoesNotExist)))},
		}
	}
	if err := k.applyMWC(mwc); err != nil {
		return fmt.Errorf("failed to apply tag webhook MutatingWebhookConfiguration to cluster: %v", err)
	}
	if vwc != nil {
		if err := k.applyVWC(vwc); err != nil {
			return fmt.Errorf("failed to apply tag webhook MutatingWebhookConfiguration to cluster: failed to apply tag manifests to cluster: %v", err)
		}
	}
	fmt.Fprintf(t.out, "Revision tag %q created, referencing control plane revision %q. To enable injection using this\nrevision tag, use 'kubectl label namespace <NAMESPACE> istio.io/rev=%s'\n", tag, rev, tag)
	return nil
}

// renderedClientConfig is the template's clientConfig: the canonical
// webhook's URL if it has one (managed control planes), else Service
// istiod[-REV] in ns, with the canonical path (or path) and caBundle.
func renderedClientConfig(canon admv1.WebhookClientConfig, ns, rev, path string) admv1.WebhookClientConfig {
	cc := admv1.WebhookClientConfig{CABundle: canon.CABundle}
	if canon.URL != nil {
		u := *canon.URL
		if path != "" {
			if i := strings.Index(u, "://"); i >= 0 {
				if j := strings.Index(u[i+3:], "/"); j >= 0 {
					u = u[:i+3+j]
				}
			}
			u += path
		}
		cc.URL = &u
		return cc
	}
	p := path
	if p == "" && canon.Service != nil && canon.Service.Path != nil {
		p = *canon.Service.Path
	}
	cc.Service = &admv1.ServiceReference{Namespace: ns, Name: "istiod" + suffix(rev), Path: ptr(p), Port: ptr[int32](443)}
	return cc
}

// deactivateDefaultInjector is DeactivateIstioInjectionWebhook: the default
// revision's own injector (istio.io/rev=default, no tag) is kept, so that a
// later `tag set default --revision default` can go back to it, but its
// selectors are made to match nothing.
func (k *kube) deactivateDefaultInjector() error {
	whs, err := k.revisionWebhooks("default")
	if err != nil || len(whs) == 0 {
		return err
	}
	if len(whs) > 1 {
		return fmt.Errorf("expected a single webhook for default revision")
	}
	never := &metav1.LabelSelector{MatchLabels: map[string]string{labelDeactivated: "never-match"}}
	wh := whs[0]
	for i := range wh.Webhooks {
		wh.Webhooks[i].NamespaceSelector, wh.Webhooks[i].ObjectSelector = never, never
	}
	_, err = k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(k.ctx, &wh, metav1.UpdateOptions{})
	return err
}

// deleteDeprecatedValidators is DeleteDeprecatedValidator: validating
// webhooks labelled app=istiod whose name lacks "validator" (the base
// chart's istiod-NS of 1.5-1.10).
func (k *kube) deleteDeprecatedValidators() error {
	l, err := k.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(k.ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return err
	}
	for _, v := range l.Items {
		if !strings.Contains(v.Name, "validator") {
			if err := k.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(k.ctx, v.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

func (k *kube) namespacesWithRev(rev string) ([]string, error) {
	l, err := k.cs.CoreV1().Namespaces().List(k.ctx, metav1.ListOptions{LabelSelector: labelRev + "=" + rev})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range l.Items {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out, nil
}

func (t *istioctl) tagList(args []string) error {
	f, err := t.parse(args, strFlag("output", "o"))
	if err != nil {
		return err
	}
	if len(f.args) > 0 {
		return fmt.Errorf("tag list command does not accept arguments")
	}
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	whs, err := k.webhooksWith(labelTag)
	if err != nil {
		return fmt.Errorf("failed to retrieve revision tags: %v", err)
	}
	if len(whs) == 0 {
		fmt.Fprintln(t.out, "No Istio revision tag MutatingWebhookConfigurations to list")
		return nil
	}
	type desc struct {
		Tag        string   `json:"tag"`
		Revision   string   `json:"revision"`
		Namespaces []string `json:"namespaces"`
	}
	var tags []desc
	for _, w := range whs {
		ns, err := k.namespacesWithRev(w.Labels[labelTag])
		if err != nil {
			return fmt.Errorf("error retrieving namespaces for tag %q: %v", w.Labels[labelTag], err)
		}
		tags = append(tags, desc{w.Labels[labelTag], w.Labels[labelRev], ns})
	}
	sort.Slice(tags, func(i, j int) bool {
		if tags[i].Revision != tags[j].Revision {
			return tags[i].Revision < tags[j].Revision
		}
		return tags[i].Tag < tags[j].Tag
	})
	switch f.str("output") {
	case "json", "yaml":
		return printStructured(t, f.str("output"), tags)
	case "", "table":
	default:
		return fmt.Errorf("unknown format: %s", f.str("output"))
	}
	w := tabwriter.NewWriter(t.out, 0, 8, 1, ' ', 0)
	fmt.Fprintln(w, "TAG\tREVISION\tNAMESPACES")
	for _, d := range tags {
		fmt.Fprintf(w, "%s\t%s\t%s\n", d.Tag, d.Revision, strings.Join(d.Namespaces, ","))
	}
	return w.Flush()
}

func (t *istioctl) tagRemove(args []string) error {
	f, err := t.parse(args, boolFlag("skip-confirmation", "y"))
	if err != nil {
		return err
	}
	if len(f.args) != 1 {
		return fmt.Errorf("must provide a single tag for removal")
	}
	tag := f.args[0]
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	whs, err := k.tagWebhooks(tag)
	if err != nil {
		return fmt.Errorf("failed to retrieve tag with name %s: %v", tag, err)
	}
	if len(whs) == 0 {
		return fmt.Errorf("cannot remove tag %q: cannot find MutatingWebhookConfiguration for tag", tag)
	}
	nss, err := k.namespacesWithRev(tag)
	if err != nil {
		return fmt.Errorf("failed to retrieve namespaces dependent on tag %q", tag)
	}
	if len(nss) > 0 && !f.boolean("skip-confirmation", false) &&
		!confirm(fmt.Sprintf("Caution, found %d namespace(s) still injected by tag %q: %s\nProceed with operation? [y/N]", len(nss), tag, strings.Join(nss, " ")), t.out) {
		fmt.Fprintln(t.out, "Aborting operation.")
		return nil
	}
	for _, w := range whs {
		if err := k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(k.ctx, w.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete Istio revision tag MutatingConfigurationWebhook: %v", err)
		}
	}
	fmt.Fprintf(t.out, "Revision tag %s removed\n", tag)
	return nil
}

// createRemoteSecret prints the Secret that lets another cluster's istiod
// read this one: a kubeconfig for CONTEXT authenticated as the
// istio-reader-service-account (created if missing, as the real one does).
func (t *istioctl) createRemoteSecret(args []string) error {
	f, err := t.parse(args, strFlag("name"), strFlag("server"), boolFlag("create-service-account"), strFlag("type"), strFlag("secret-name"), strFlag("service-account"))
	if err != nil {
		return err
	}
	k, err := t.kube(f)
	if err != nil {
		return err
	}
	kctx, ok := k.raw.Contexts[k.context]
	if !ok {
		return fmt.Errorf("could not find context %q in the kubeconfig", k.context)
	}
	cl := k.raw.Clusters[kctx.Cluster]
	if cl == nil {
		return fmt.Errorf("could not find cluster %q of context %q in the kubeconfig", kctx.Cluster, k.context)
	}
	name, server := f.str("name"), f.str("server")
	if name == "" {
		name = kctx.Cluster
	}
	if server == "" {
		server = cl.Server
	}
	ns, sa := istioNS(f), f.str("service-account")
	if sa == "" {
		sa = "istio-reader-service-account"
	}
	if _, err := k.cs.CoreV1().ServiceAccounts(ns).Get(k.ctx, sa, metav1.GetOptions{}); apierrors.IsNotFound(err) && f.boolean("create-service-account", true) {
		err = k.ensureServiceAccount(ns, sa, map[string]string{"app": "istio-reader", "release": "istio"})
		if err != nil {
			return fmt.Errorf("could not create service account %s/%s: %v", ns, sa, err)
		}
	} else if err != nil {
		return fmt.Errorf("could not get access token to read resources from local kube-apiserver: %v", err)
	}
	tr, err := k.cs.CoreV1().ServiceAccounts(ns).CreateToken(k.ctx, sa, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr[int64](3600 * 24 * 365)}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("could not get access token to read resources from local kube-apiserver: %v", err)
	}
	kc := map[string]any{
		"apiVersion": "v1", "kind": "Config", "preferences": map[string]any{}, "current-context": name,
		"clusters": []any{map[string]any{"name": name, "cluster": map[string]any{
			"server": server, "certificate-authority-data": base64.StdEncoding.EncodeToString(cl.CertificateAuthorityData),
		}}},
		"contexts": []any{map[string]any{"name": name, "context": map[string]any{"cluster": name, "user": name}}},
		"users":    []any{map[string]any{"name": name, "user": map[string]any{"token": tr.Status.Token}}},
	}
	kcYAML, err := yaml.Marshal(kc)
	if err != nil {
		return err
	}
	secretName := f.str("secret-name")
	if secretName == "" {
		secretName = "istio-remote-secret-" + name
	}
	sec := corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: secretName, Namespace: ns,
			Annotations: map[string]string{"networking.istio.io/cluster": name},
			Labels:      map[string]string{"istio/multiCluster": "true"},
		},
		StringData: map[string]string{name: string(kcYAML)},
	}
	out, err := yaml.Marshal(sec)
	if err != nil {
		return err
	}
	fmt.Fprintf(t.out, "# This file is autogenerated, do not edit.\n%s---\n", out)
	return nil
}
