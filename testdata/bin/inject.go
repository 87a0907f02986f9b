package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// decision is what the injector does with one pod.
type decision struct {
	patch    []byte   // JSON patch when injecting
	deny     string   // rejection message (the istio webhook would fail, failurePolicy Fail)
	warnings []string // returned to the client when not injecting
	reason   string   // for the log
	revision string
	image    string
}

// decide resolves the pod's revision as istio does:
//
//   - sidecar.istio.io/inject=false on the pod: no injection;
//   - a namespace with both istio-injection and istio.io/rev: injection
//     fails (the seeds' rule; the pod is created without a new sidecar);
//   - istio-injection=enabled: the "default" tag, else the default revision;
//   - istio.io/rev=X on the namespace (or on the pod in an unlabelled
//     namespace): the tag X's webhook if one exists, else revision X's;
//   - sidecar.istio.io/inject=true on a pod in an unlabelled namespace: as
//     istio-injection=enabled.
//
// The webhook found names the istiod Service that would be called. If it is
// gone, or no running istiod pod backs it, the call would fail and the real
// webhook (failurePolicy Fail) rejects the pod: so does this. Otherwise the
// proxy version is the image tag of that istiod pod's discovery container
// (URL-based managed webhooks carry it in their operator.istio.io/version
// label), and the proxy image is HUB/proxyv2:VERSION with the istiod's hub.
func (j *injector) decide(ctx context.Context, ns string, pod *corev1.Pod) decision {
	if pod.Labels["sidecar.istio.io/inject"] == "false" || pod.Annotations["sidecar.istio.io/inject"] == "false" {
		return decision{reason: "sidecar.istio.io/inject=false"}
	}
	n, err := j.k.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return decision{reason: "cannot read namespace: " + err.Error()}
	}
	inj, hasInj := n.Labels["istio-injection"]
	rev, hasRev := n.Labels[labelRev]
	var name, webhook string
	switch {
	case hasInj && hasRev:
		msg := fmt.Sprintf("namespace %s has both istio-injection=%s and istio.io/rev=%s: sidecar injection fails; remove istio-injection (kubectl label namespace %s istio-injection-)", ns, inj, rev, ns)
		return decision{reason: msg, warnings: []string{msg}}
	case hasInj && inj == "enabled":
		name, webhook = "default", "namespace.sidecar-injector.istio.io"
	case hasInj:
		return decision{reason: "istio-injection=" + inj}
	case hasRev:
		name, webhook = rev, "rev.namespace.sidecar-injector.istio.io"
	case pod.Labels[labelRev] != "":
		name, webhook = pod.Labels[labelRev], "rev.object.sidecar-injector.istio.io"
	case pod.Labels["sidecar.istio.io/inject"] == "true":
		name, webhook = "default", "object.sidecar-injector.istio.io"
	default:
		return decision{reason: "no injection label"}
	}
	mwc, err := j.findWebhook(ctx, name, webhook == "namespace.sidecar-injector.istio.io")
	if err != nil {
		return decision{reason: err.Error()}
	}
	if mwc == nil {
		return decision{reason: fmt.Sprintf("no istio webhook selects %q (no tag or revision of that name)", name)}
	}
	cc, _ := injectorClientConfig(mwc)
	var version, hub string
	switch {
	case cc.Service != nil:
		var deny string
		version, hub, deny = j.endpointVersion(ctx, webhook, cc.Service)
		if deny != "" {
			return decision{deny: deny}
		}
	case cc.URL != nil:
		version, hub = mwc.Labels[labelVersion], "gcr.io/gke-release/asm"
	}
	if version == "" {
		return decision{reason: "cannot tell the version of the control plane of " + mwc.Name}
	}
	revision := mwc.Labels[labelRev]
	if revision == "" {
		revision = "default" // 1.5's webhook has no istio.io/rev label
	}
	image := hub + "/proxyv2:" + version
	patch, err := injectionPatch(pod, revision, image, version)
	if err != nil {
		return decision{reason: err.Error()}
	}
	return decision{patch: patch, revision: revision, image: image}
}

// findWebhook returns the tag webhook for name, else the revision's own;
// for istio-injection=enabled (legacy) also 1.5's unlabelled
// istio-sidecar-injector, whose only webhook selects that label. A webhook
// that `istioctl tag set default` deactivated (selectors matching
// istio.io/deactivated=never-match) is never called, so it is skipped.
func (j *injector) findWebhook(ctx context.Context, name string, legacy bool) (*admv1.MutatingWebhookConfiguration, error) {
	api := j.k.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	sels := []string{labelTag + "=" + name, labelRev + "=" + name + ",!" + labelTag}
	if legacy {
		sels = append(sels, "app=sidecar-injector,!"+labelRev+",!"+labelTag)
	}
	for _, sel := range sels {
		l, err := api.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, err
		}
		sort.Slice(l.Items, func(a, b int) bool { return l.Items[a].Name < l.Items[b].Name })
		for i := range l.Items {
			if _, ok := injectorClientConfig(&l.Items[i]); ok && !deactivated(&l.Items[i]) {
				return &l.Items[i], nil
			}
		}
	}
	return nil, nil
}

// deactivated tells whether DeactivateIstioInjectionWebhook
// (istioctl/pkg/tag/util.go) neutralised the configuration.
func deactivated(m *admv1.MutatingWebhookConfiguration) bool {
	for _, w := range m.Webhooks {
		if w.NamespaceSelector == nil || w.NamespaceSelector.MatchLabels[labelDeactivated] != "never-match" {
			return false
		}
	}
	return len(m.Webhooks) > 0
}

// endpointVersion finds the running istiod behind a webhook's Service, the
// way the API server's call would reach it.
func (j *injector) endpointVersion(ctx context.Context, webhook string, ref *admv1.ServiceReference) (version, hub, deny string) {
	call := fmt.Sprintf("failed calling webhook %q: failed to call webhook: Post \"https://%s.%s.svc:443/inject?timeout=10s\"", webhook, ref.Name, ref.Namespace)
	svc, err := j.k.cs.CoreV1().Services(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", "", fmt.Sprintf("Internal error occurred: %s: service %q not found", call, ref.Name)
	}
	if err != nil {
		return "", "", ""
	}
	pods, err := j.k.cs.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return "", "", ""
	}
	var newest *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if podRunning(p) && (newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp)) {
			newest = p
		}
	}
	if newest == nil || len(svc.Spec.Selector) == 0 {
		return "", "", fmt.Sprintf("Internal error occurred: %s: no endpoints available for service %q", call, ref.Name)
	}
	for _, c := range newest.Spec.Containers {
		if c.Name == "discovery" {
			return imageTag(c.Image), imageHub(c.Image), ""
		}
	}
	return "", "", ""
}

// injectionPatch sets the istio-proxy container's image (adding the
// container if the pod has none) and the labels and annotations istio's
// injection templates add (charts/istio-control/istio-discovery/files):
// the sidecar template does NOT label the pod istio.io/rev (1.6-1.17 record
// the revision only in the sidecar.istio.io/status annotation; 1.18+ add an
// istio.io/rev annotation); the gateway template labels it istio.io/rev.
func injectionPatch(pod *corev1.Pod, revision, image, version string) ([]byte, error) {
	containers := append([]corev1.Container{}, pod.Spec.Containers...)
	found := false
	for i := range containers {
		if containers[i].Name == "istio-proxy" {
			containers[i].Image, found = image, true
		}
	}
	gatewayTemplate := pod.Annotations["inject.istio.io/templates"] == "gateway"
	if !found {
		args := []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"}
		if gatewayTemplate {
			args = []string{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"}
		}
		containers = append(containers, corev1.Container{Name: "istio-proxy", Image: image, Args: args,
			Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}}})
	}
	added := map[string]string{
		"security.istio.io/tlsMode":       "istio",
		"service.istio.io/canonical-name": canonicalName(pod), "service.istio.io/canonical-revision": "latest",
	}
	if gatewayTemplate {
		added[labelRev] = revision
	}
	lbl := mergeMaps(pod.Labels, added)
	status, _ := json.Marshal(map[string]any{"initContainers": nil, "containers": []string{"istio-proxy"}, "volumes": []string{}, "imagePullSecrets": nil, "revision": revision})
	anns := map[string]string{"sidecar.istio.io/status": string(status), "sidecar.istio.io/proxyImage": image}
	if v, ok := parseVersion(version); ok && (v.major > 1 || v.minor >= 18) {
		anns[labelRev] = revision
	}
	ann := mergeMaps(pod.Annotations, anns)
	ops := []map[string]any{
		{"op": "add", "path": "/metadata/labels", "value": lbl},
		{"op": "add", "path": "/metadata/annotations", "value": ann},
		{"op": "replace", "path": "/spec/containers", "value": containers},
	}
	return json.Marshal(ops)
}

// injectedRevision is the revision that injected a pod: the
// sidecar.istio.io/status annotation's, else its istio.io/rev label
// (gateways, kubetest fixtures), else "".
func injectedRevision(p *corev1.Pod) string {
	var st struct {
		Revision string `json:"revision"`
	}
	if s := p.Annotations["sidecar.istio.io/status"]; s != "" && json.Unmarshal([]byte(s), &st) == nil && st.Revision != "" {
		return st.Revision
	}
	return p.Labels[labelRev]
}

func canonicalName(pod *corev1.Pod) string {
	for _, k := range []string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"} {
		if v := pod.Labels[k]; v != "" {
			return v
		}
	}
	if pod.GenerateName != "" {
		parts := strings.Split(strings.TrimSuffix(pod.GenerateName, "-"), "-")
		if len(parts) > 2 {
			parts = parts[:len(parts)-1] // drop the pod-template hash
		}
		return strings.Join(parts, "-")
	}
	return pod.Name
}
