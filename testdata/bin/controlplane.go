package main

import (
	"fmt"
	"strconv"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels istioctl's installer puts on what it installs. uninstall prunes by
// istio.io/rev plus operator.istio.io/component, as the real one does.
const (
	labelRev       = "istio.io/rev"
	labelTag       = "istio.io/tag"
	labelComponent = "operator.istio.io/component"
	labelVersion   = "operator.istio.io/version"
	labelOwner     = "install.operator.istio.io/owning-resource"
	// labelDeactivated is the never-matching selector `tag set default`
	// gives the default revision's own injector (istioctl/pkg/tag/util.go).
	labelDeactivated = "istio.io/deactivated"
)

var iopGVR = schema.GroupVersionResource{Group: "install.istio.io", Version: "v1alpha1", Resource: "istiooperators"}

var iopCRD = crdSpec{gvr: iopGVR, kind: "IstioOperator", namespaced: true, shortNames: []string{"iop", "io"}}

// controlPlane describes one in-cluster istiod revision to install.
type controlPlane struct {
	ns       string // istio namespace
	revision string // "" for the default revision
	version  string // e.g. 1.15.4 or 1.14.0-asm.1
	hub      string // image registry, e.g. docker.io/istio
	tag      string // image tag; defaults to version
	profile  string
	spec     map[string]any // the IstioOperator spec recorded in installed-state
	gateways []gateway
}

type gateway struct{ name, ns string }

func (c *controlPlane) revLabel() string {
	if c.revision == "" || c.revision == "default" {
		return "default"
	}
	return c.revision
}

func suffix(rev string) string {
	if rev == "" || rev == "default" {
		return ""
	}
	return "-" + rev
}

// nsSuffix is what the charts append to cluster-scoped names outside
// istio-system (istio-discovery/templates/mutatingwebhook.yaml and
// revision-tags.yaml: `{{- if eq .Release.Namespace "istio-system"}}`).
func nsSuffix(ns string) string {
	if ns == "istio-system" || ns == "" {
		return ""
	}
	return "-" + ns
}

func (c *controlPlane) istiod() string { return "istiod" + suffix(c.revision) }
func (c *controlPlane) injector() string {
	return "istio-sidecar-injector" + suffix(c.revision) + nsSuffix(c.ns)
}
func (c *controlPlane) validator() string { return "istio-validator" + suffix(c.revision) + "-" + c.ns }
func (c *controlPlane) iopName() string   { return "installed-state" + suffix(c.revision) }

// baseValidator is the base chart's ValidatingWebhookConfiguration of 1.5 to
// 1.10 (charts/base/templates/validatingwebhookconfiguration.yaml): one per
// namespace, calling Service istiod whatever the revision; 1.11 moved
// validation to the per-revision istio-validator-REV-NS.
func (c *controlPlane) baseValidator() string { return "istiod-" + c.ns }

func (c *controlPlane) v() semver {
	v, _ := parseVersion(c.version)
	return v
}

// legacy is 1.5: no istio.io/rev labels, a single injection webhook
// selecting istio-injection=enabled, Services istiod and istio-pilot
// (manifests/istio-control/istio-discovery/templates at 1.5.4).
func (c *controlPlane) legacy() bool { v := c.v(); return v.major == 1 && v.minor <= 5 }

func (c *controlPlane) perRevisionValidator() bool { v := c.v(); return v.major > 1 || v.minor >= 11 }

// defaultHub is where the images of a release live: ASM builds on
// gcr.io/gke-release/asm, upstream Istio on docker.io/istio.
func defaultHub(version string) string {
	if strings.Contains(version, "-asm") {
		return "gcr.io/gke-release/asm"
	}
	return "docker.io/istio"
}

func (c *controlPlane) labels(component string, extra map[string]string) map[string]string {
	l := map[string]string{
		labelRev: c.revLabel(), labelComponent: component, labelVersion: c.version,
		"operator.istio.io/managed": "Reconcile", labelOwner: c.iopName(),
		"install.operator.istio.io/owning-resource-namespace": c.ns, "release": "istio",
	}
	if c.legacy() {
		delete(l, labelRev)
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// objects builds everything `istioctl install --set revision=R` leaves in the
// cluster for istiod. Services are headless on purpose: the webhooks point at
// them and must fail open at once (nothing serves them here; the injector
// subcommand does the injecting).
func (c *controlPlane) istiodObjects() (*appsv1.Deployment, *corev1.Service, *autoscalingv2.HorizontalPodAutoscaler, *policyv1.PodDisruptionBudget) {
	sel := map[string]string{"app": "istiod", labelRev: c.revLabel()}
	lbl := c.labels("Pilot", map[string]string{"app": "istiod", "istio": "pilot"})
	// A revision's pods are istio=istiod, so that the default Service
	// (selector istio=pilot, 1.5's) does not pick them (istio-discovery
	// templates/deployment.yaml, 1.6-current).
	podIstio := "istiod"
	if c.revLabel() == "default" {
		podIstio = "pilot"
	}
	podLabels := map[string]string{"app": "istiod", labelRev: c.revLabel(), "istio": podIstio, "sidecar.istio.io/inject": "false", labelComponent: "Pilot"}
	if c.legacy() {
		sel = map[string]string{"istio": "pilot"}
		delete(podLabels, labelRev)
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: c.istiod(), Namespace: c.ns, Labels: lbl},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{"sidecar.istio.io/inject": "false"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr[int64](0),
					Containers: []corev1.Container{{
						Name: "discovery", Image: c.hub + "/pilot:" + c.tag,
						Args:  []string{"discovery", "--monitoringAddr=:15014", "--log_output_level=default:info", "--domain", "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"},
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 15010}, {ContainerPort: 15017}},
						Env:   []corev1.EnvVar{{Name: "REVISION", Value: c.revLabel()}, {Name: "PILOT_CERT_PROVIDER", Value: "istiod"}},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: c.istiod(), Namespace: c.ns, Labels: lbl},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  sel,
			Ports: []corev1.ServicePort{
				{Name: "grpc-xds", Port: 15010, TargetPort: intstr.FromInt32(15010)},
				{Name: "https-dns", Port: 15012, TargetPort: intstr.FromInt32(15012)},
				{Name: "https-webhook", Port: 443, TargetPort: intstr.FromInt32(15017)},
				{Name: "http-monitoring", Port: 15014, TargetPort: intstr.FromInt32(15014)},
			},
		},
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: c.istiod(), Namespace: c.ns, Labels: lbl},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: c.istiod()},
			MinReplicas:    ptr[int32](1), MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr[int32](80)},
			}}},
		},
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: c.istiod(), Namespace: c.ns, Labels: lbl},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: sel},
		},
	}
	return dep, svc, hpa, pdb
}

// injectorWebhook builds the sidecar-injector webhook "PREFIXsidecar-injector.istio.io".
// failurePolicy is Ignore (the real one is Fail): nothing can serve it here.
func injectorWebhook(prefix string, cc admv1.WebhookClientConfig, nsSel, objSel *metav1.LabelSelector) admv1.MutatingWebhook {
	return admv1.MutatingWebhook{
		Name:         prefix + "sidecar-injector.istio.io",
		ClientConfig: cc,
		Rules: []admv1.RuleWithOperations{{
			Operations: []admv1.OperationType{admv1.Create},
			Rule:       admv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
		}},
		FailurePolicy:           ptr(admv1.Ignore),
		SideEffects:             ptr(admv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1beta1", "v1"},
		TimeoutSeconds:          ptr[int32](10),
		ReinvocationPolicy:      ptr(admv1.NeverReinvocationPolicy),
		NamespaceSelector:       nsSel,
		ObjectSelector:          objSel,
	}
}

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

func selector(reqs ...metav1.LabelSelectorRequirement) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: reqs}
}

// injectionWebhooks are the webhooks of istio's revision-tags.yaml and
// mutatingwebhook.yaml for name (a revision or a tag): rev.namespace and
// rev.object, plus namespace. and object. for "default".
func injectionWebhooks(name string, cc admv1.WebhookClientConfig) []admv1.MutatingWebhook {
	const in, notIn, none = metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpDoesNotExist
	notDisabled := expr("sidecar.istio.io/inject", notIn, "false")
	whs := []admv1.MutatingWebhook{
		injectorWebhook("rev.namespace.", cc, selector(expr(labelRev, in, name), expr("istio-injection", none)), selector(notDisabled)),
		injectorWebhook("rev.object.", cc, selector(expr(labelRev, none), expr("istio-injection", none)), selector(notDisabled, expr(labelRev, in, name))),
	}
	if name == "default" {
		whs = append(whs,
			injectorWebhook("namespace.", cc, selector(expr("istio-injection", in, "enabled")), selector(notDisabled)),
			injectorWebhook("object.", cc, selector(expr("istio-injection", none), expr(labelRev, none)), selector(expr("sidecar.istio.io/inject", in, "true"), expr(labelRev, none))),
		)
	}
	return whs
}

func serviceClientConfig(ns, name, path string) admv1.WebhookClientConfig {
	return admv1.WebhookClientConfig{Service: &admv1.ServiceReference{Namespace: ns, Name: name, Path: ptr(path), Port: ptr[int32](443)}}
}

func (c *controlPlane) injectorMWC() *admv1.MutatingWebhookConfiguration {
	if c.legacy() {
		wh := injectorWebhook("", serviceClientConfig(c.ns, c.istiod(), "/inject"), &metav1.LabelSelector{MatchLabels: map[string]string{"istio-injection": "enabled"}}, nil)
		return &admv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: c.injector(), Labels: map[string]string{"app": "sidecar-injector", "release": "istio"}},
			Webhooks:   []admv1.MutatingWebhook{wh},
		}
	}
	return &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: c.injector(), Labels: c.labels("Pilot", map[string]string{"app": "sidecar-injector"})},
		Webhooks:   injectionWebhooks(c.revLabel(), serviceClientConfig(c.ns, c.istiod(), "/inject")),
	}
}

// validatingWebhook validates istio config (CRDs not installed here, so it is
// never called).
func validatingWebhook(name string, cc admv1.WebhookClientConfig, objSel *metav1.LabelSelector) admv1.ValidatingWebhook {
	return admv1.ValidatingWebhook{
		Name: name, ClientConfig: cc,
		Rules: []admv1.RuleWithOperations{{
			Operations: []admv1.OperationType{admv1.Create, admv1.Update},
			Rule: admv1.Rule{APIGroups: []string{"security.istio.io", "networking.istio.io", "telemetry.istio.io", "extensions.istio.io"},
				APIVersions: []string{"*"}, Resources: []string{"*"}},
		}},
		FailurePolicy:           ptr(admv1.Ignore),
		SideEffects:             ptr(admv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1beta1", "v1"},
		ObjectSelector:          objSel,
	}
}

// baseValidatorVWC is the 1.5-1.10 base chart's webhook: no istio.io/rev
// label (uninstall --revision does not prune it), Service istiod.
func (c *controlPlane) baseValidatorVWC() *admv1.ValidatingWebhookConfiguration {
	return &admv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: c.baseValidator(), Labels: map[string]string{"app": "istiod", "istio": "istiod", "release": "istio"}},
		Webhooks:   []admv1.ValidatingWebhook{validatingWebhook("validation.istio.io", serviceClientConfig(c.ns, "istiod", "/validate"), nil)},
	}
}

func (c *controlPlane) validatorVWC() *admv1.ValidatingWebhookConfiguration {
	objSel := selector(expr(labelRev, metav1.LabelSelectorOpIn, c.revLabel()))
	if c.revLabel() == "default" {
		objSel = selector(expr(labelRev, metav1.LabelSelectorOpDoesNotExist))
	}
	return &admv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: c.validator(), Labels: c.labels("Pilot", map[string]string{"app": "istiod", "istio": "istiod"})},
		Webhooks:   []admv1.ValidatingWebhook{validatingWebhook("rev.validation.istio.io", serviceClientConfig(c.ns, c.istiod(), "/validate"), objSel)},
	}
}

func (c *controlPlane) gatewayObjects(g gateway) (*appsv1.Deployment, *corev1.Service) {
	sel := map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}
	lbl := c.labels("IngressGateways", sel)
	podLabels := map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway", labelRev: c.revLabel(), "sidecar.istio.io/inject": "false", "service.istio.io/canonical-name": g.name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: g.name, Namespace: g.ns, Labels: lbl},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{"sidecar.istio.io/inject": "false"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr[int64](0),
					Containers: []corev1.Container{{
						Name: "istio-proxy", Image: c.hub + "/proxyv2:" + c.tag, Args: []string{"proxy", "router"},
						Ports: []corev1.ContainerPort{{ContainerPort: 15021}, {ContainerPort: 8080}, {ContainerPort: 8443}},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: g.name, Namespace: g.ns, Labels: lbl},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, Selector: sel,
			Ports: []corev1.ServicePort{
				{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021)},
				{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(8080)},
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)},
			},
		},
	}
	return dep, svc
}

func (c *controlPlane) installedState() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
		"metadata": map[string]any{
			"name": c.iopName(), "namespace": c.ns,
			"annotations": map[string]any{"install.istio.io/ignoreReconcile": "true"},
		},
		"spec": c.spec,
	}}
}

// semver is a parsed Istio/ASM/Anthos version: 1.14.0-asm.1 -> {1 14 0}.
type semver struct{ major, minor, patch int }

func parseVersion(v string) (semver, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) < 2 {
		return semver{}, false
	}
	var n [3]int
	for i := 0; i < len(parts) && i < 3; i++ {
		x, err := strconv.Atoi(parts[i])
		if err != nil {
			return semver{}, false
		}
		n[i] = x
	}
	return semver{n[0], n[1], n[2]}, true
}

func (s semver) String() string { return fmt.Sprintf("%d.%d.%d", s.major, s.minor, s.patch) }

func (s semver) less(o semver) bool {
	if s.major != o.major {
		return s.major < o.major
	}
	if s.minor != o.minor {
		return s.minor < o.minor
	}
	return s.patch < o.patch
}

// imageTag returns the tag of an image reference ("" if none).
func imageTag(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return image[i+1:]
}

// imageHub returns the registry path before the final /NAME:TAG.
func imageHub(image string) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		return image[:i]
	}
	return ""
}

// deploymentVersion is the Istio version a control-plane Deployment runs:
// the operator.istio.io/version label, else its discovery image tag (the
// kubetest fixtures set only the image).
func deploymentVersion(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			if t := imageTag(c.Image); t != "" {
				return t
			}
		}
	}
	return d.Labels[labelVersion]
}
