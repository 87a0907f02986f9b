package kube

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// CheckParams are the params of kube.check: read the selected objects once
// and assert on them. Waiting for a state is kube.waitFor's job; a check
// that could pass "eventually" would hide how long the cluster took.
type CheckParams struct {
	ObjectQuery `yaml:",inline" json:",inline"`
	// Expect holds the assertions; all must hold. With none, the check
	// asserts that at least one object is selected.
	Expect CheckExpect `yaml:"expect" json:"expect"`
	// Publish maps output names to field paths read from the first
	// selected object (in namespace/name order).
	Publish map[string]string `yaml:"publish" json:"publish,omitempty"`
}

// CheckExpect are kube.check's assertions. Except for exists: false and
// count: 0, selecting no object at all is a failure: "every pod is ready"
// over a selector that matches nothing is almost always a typo.
type CheckExpect struct {
	Exists *bool `yaml:"exists" json:"exists,omitempty"`
	Count  *int  `yaml:"count" json:"count,omitempty"`
	// Fields maps a field path (see FieldPath) to the value every selected
	// object must have there; values compare as strings.
	Fields map[string]string `yaml:"fields" json:"fields,omitempty"`
	// FieldPrefixes maps a field path to a prefix every selected object's
	// value there must start with, e.g. every node's
	// status.nodeInfo.kubeletVersion starting with "v1.23.5-gke". The
	// evidence lists the values found.
	FieldPrefixes map[string]string `yaml:"fieldPrefixes" json:"fieldPrefixes,omitempty"`
	Labels        map[string]string `yaml:"labels" json:"labels,omitempty"`
	AbsentLabels  []string          `yaml:"absentLabels" json:"absentLabels,omitempty"`
	// PodsReady and NoBadPods apply to kind Pod. Pods that have Succeeded
	// (completed Jobs) are ignored by both.
	PodsReady bool `yaml:"podsReady" json:"podsReady,omitempty"`
	NoBadPods bool `yaml:"noBadPods" json:"noBadPods,omitempty"`
	// ContainerImageTag applies to Pods and to anything with a pod
	// template (Deployment, DaemonSet, StatefulSet, Job, CronJob...).
	ContainerImageTag *ImageTagExpect `yaml:"containerImageTag" json:"containerImageTag,omitempty"`
	// NoContainerImageTag asserts that no selected object runs a container
	// of this name with this tag (objects without the container pass):
	// "no pod still runs the old proxy", which a label cannot tell since
	// sidecar injection records the revision only in annotations.
	NoContainerImageTag *ImageTagExpect `yaml:"noContainerImageTag" json:"noContainerImageTag,omitempty"`
}

// ImageTagExpect asserts that every container with this name runs an image
// with this tag (or this digest, when Tag is "sha256:...").
type ImageTagExpect struct {
	Container string `yaml:"container" json:"container"`
	Tag       string `yaml:"tag" json:"tag"`
}

var checkOutputRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Outputs are the publish keys.
func (p *CheckParams) Outputs() []string {
	names := make([]string, 0, len(p.Publish))
	for n := range p.Publish {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks the shape and parses paths that hold no reference.
func (p *CheckParams) Validate() []playbooks.FieldError {
	var errs objFieldErrs
	p.validateQuery(errs.add)
	e := &p.Expect
	if e.Exists != nil && !*e.Exists {
		if others := e.objectAssertions(); len(others) > 0 {
			errs.add("expect.exists", "exists: false cannot be combined with %s, which need objects", strings.Join(others, ", "))
		}
		if e.Count != nil && *e.Count != 0 {
			errs.add("expect.count", "contradicts exists: false")
		}
		if len(p.Publish) > 0 {
			errs.add("publish", "needs an object to read, which exists: false rules out")
		}
	}
	if e.Count != nil && *e.Count < 0 {
		errs.add("expect.count", "must not be negative")
	}
	for _, k := range objSortedKeys(e.Fields) {
		if _, err := ParseFieldPath(k); err != nil {
			errs.add("expect.fields."+k, "%v", err)
		}
	}
	for _, k := range objSortedKeys(e.FieldPrefixes) {
		if _, err := ParseFieldPath(k); err != nil {
			errs.add("expect.fieldPrefixes."+k, "%v", err)
		}
		if e.FieldPrefixes[k] == "" {
			errs.add("expect.fieldPrefixes."+k, "needs a prefix: an empty one matches every value")
		}
	}
	for _, k := range objSortedKeys(e.Labels) {
		if strings.TrimSpace(k) == "" {
			errs.add("expect.labels", "has an empty label key")
		}
	}
	for i, k := range e.AbsentLabels {
		if strings.TrimSpace(k) == "" {
			errs.add(fmt.Sprintf("expect.absentLabels.%d", i), "must name a label key")
		}
	}
	if it := e.ContainerImageTag; it != nil {
		if strings.TrimSpace(it.Container) == "" {
			errs.add("expect.containerImageTag.container", "is required: the container name, e.g. istio-proxy")
		}
		if strings.TrimSpace(it.Tag) == "" {
			errs.add("expect.containerImageTag.tag", "is required: the image tag, e.g. 1.14.0-asm.1")
		}
	}
	if it := e.NoContainerImageTag; it != nil {
		if strings.TrimSpace(it.Container) == "" {
			errs.add("expect.noContainerImageTag.container", "is required: the container name, e.g. istio-proxy")
		}
		if strings.TrimSpace(it.Tag) == "" {
			errs.add("expect.noContainerImageTag.tag", "is required: the image tag, e.g. 1.14.0-asm.1")
		}
	}
	for _, name := range p.Outputs() {
		if !checkOutputRE.MatchString(name) {
			errs.add("publish."+name, "invalid output name %q: use letters, digits and _, not starting with a digit", name)
		}
		path := p.Publish[name]
		if strings.TrimSpace(path) == "" {
			errs.add("publish."+name, "needs a field path, e.g. metadata.labels.istio\\.io/rev")
		} else if !strings.Contains(path, "${") {
			if _, err := ParseFieldPath(path); err != nil {
				errs.add("publish."+name, "%v", err)
			}
		}
	}
	return errs
}

// objectAssertions lists the set assertions that are about each object.
func (e *CheckExpect) objectAssertions() []string {
	var s []string
	add := func(ok bool, name string) {
		if ok {
			s = append(s, name)
		}
	}
	add(len(e.Fields) > 0, "fields")
	add(len(e.FieldPrefixes) > 0, "fieldPrefixes")
	add(len(e.Labels) > 0, "labels")
	add(len(e.AbsentLabels) > 0, "absentLabels")
	add(e.PodsReady, "podsReady")
	add(e.NoBadPods, "noBadPods")
	add(e.ContainerImageTag != nil, "containerImageTag")
	add(e.NoContainerImageTag != nil, "noContainerImageTag")
	return s
}

func objSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func checkKind(clients cluster.ClientsFunc) steps.Kind {
	return steps.Kind{
		Name:         "kube.check",
		Summary:      "read objects once and assert on them (exists, count, fields, labels, pods ready, image tags); publish fields",
		NewParams:    func() any { return &CheckParams{} },
		New:          lazy(clients, func(cl *cluster.Clients) steps.Executor { return &checkExec{cl: cl} }),
		NeedsCluster: true,
		ReadOnly:     true,
	}
}

type checkExec struct{ cl *cluster.Clients }

// checkOutcome is one evaluation of a kube.check.
type checkOutcome struct {
	failures []string
	passed   []string
	outputs  map[string]string
	what     string // the selection, for messages
}

func (x *checkExec) evaluate(ctx context.Context, params any) (*checkOutcome, error) {
	p, err := objParams[CheckParams]("kube.check", params)
	if err != nil {
		return nil, err
	}
	cl := x.cl
	t, err := resolveObjQuery(ctx, cl, p.ObjectQuery)
	if err != nil {
		return nil, err
	}
	if e := p.Expect; (e.PodsReady || e.NoBadPods) && !objIsPods(t.m) {
		return nil, steps.Permanent(fmt.Errorf("podsReady and noBadPods apply to kind Pod, not %s: select the pods themselves (kind: Pod, selector: ...)", t.m.Kind))
	}
	objs, err := t.list(ctx, cl)
	if err != nil {
		return nil, err
	}
	out, err := p.judge(t, objs)
	if err != nil {
		return nil, steps.Permanent(err)
	}
	return out, nil
}

func objIsPods(m Mapping) bool { return m.GVR.Group == "" && m.GVR.Resource == "pods" }

// Run fails permanently when an assertion does not hold: the objects were
// read once, and reading them again right away would say the same.
func (x *checkExec) Run(ctx context.Context, in steps.Instance) (steps.Result, error) {
	out, err := x.evaluate(ctx, in.Params)
	if err != nil {
		return steps.Result{}, err
	}
	if len(out.failures) > 0 {
		return steps.Result{}, steps.Permanent(errors.New(out.what + ": " + strings.Join(out.failures, "; ")))
	}
	return steps.Result{Outputs: out.outputs, Evidence: out.what + ": " + strings.Join(out.passed, "; ")}, nil
}

// Check is done when every assertion holds now.
func (x *checkExec) Check(ctx context.Context, in steps.Instance) (bool, error) {
	done, _, err := x.CheckResult(ctx, in)
	return done, err
}

// CheckResult is Check with the outputs a Run would publish. The engine's
// built-in check records no outputs, so a step whose publish is used later
// needs them from here; see the note in the kinds' report.
func (x *checkExec) CheckResult(ctx context.Context, in steps.Instance) (bool, steps.Result, error) {
	out, err := x.evaluate(ctx, in.Params)
	if err != nil || len(out.failures) > 0 {
		return false, steps.Result{}, err
	}
	return true, steps.Result{Outputs: out.outputs, Evidence: out.what + ": " + strings.Join(out.passed, "; ")}, nil
}

// judge applies the assertions to the objects read; it is pure, so that
// messages can be tested without a cluster.
func (p *CheckParams) judge(t *objTarget, objs []*unstructured.Unstructured) (*checkOutcome, error) {
	e := &p.Expect
	out := &checkOutcome{what: t.describe()}
	fail := func(format string, args ...any) { out.failures = append(out.failures, fmt.Sprintf(format, args...)) }
	pass := func(format string, args ...any) { out.passed = append(out.passed, fmt.Sprintf(format, args...)) }
	kind := t.m.Kind
	found := fmt.Sprintf("found %d", len(objs))
	if len(objs) > 0 {
		found += ": " + objList(kind, objs, nil)
	}
	if e.Exists != nil && !*e.Exists {
		if len(objs) > 0 {
			fail("expected none, %s", found)
		} else {
			pass("absent, as expected")
		}
		return out, nil
	}
	if e.Count != nil {
		if len(objs) != *e.Count {
			fail("expected %d, %s", *e.Count, found)
		} else {
			pass("count %d", len(objs))
		}
	}
	if len(objs) == 0 {
		if e.Count == nil || *e.Count != 0 {
			fail("nothing found (expected at least one %s)", kind)
		}
		return out, nil
	}
	if len(out.failures) == 0 && e.Count == nil {
		pass("%s", found)
	}
	for _, path := range objSortedKeys(e.Fields) {
		judgeEach(out, kind, objs, fmt.Sprintf("with %s != %q", path, e.Fields[path]), fmt.Sprintf("%s=%q", path, e.Fields[path]),
			func(u *unstructured.Unstructured) string { return fieldMismatch(u, path, e.Fields[path]) })
	}
	for _, path := range objSortedKeys(e.FieldPrefixes) {
		judgeFieldPrefix(out, kind, objs, path, e.FieldPrefixes[path])
	}
	for _, k := range objSortedKeys(e.Labels) {
		want := e.Labels[k]
		judgeEach(out, kind, objs, fmt.Sprintf("without label %s=%s", k, want), fmt.Sprintf("label %s=%s", k, want),
			func(u *unstructured.Unstructured) string {
				got, ok := u.GetLabels()[k]
				switch {
				case !ok:
					return "no " + k + " label"
				case got != want:
					return k + "=" + got
				}
				return ""
			})
	}
	for _, k := range e.AbsentLabels {
		judgeEach(out, kind, objs, "with label "+k, "no label "+k, func(u *unstructured.Unstructured) string {
			if got, ok := u.GetLabels()[k]; ok {
				return k + "=" + got
			}
			return ""
		})
	}
	if e.PodsReady {
		judgeEach(out, kind, objs, "not ready", "all Ready", func(u *unstructured.Unstructured) string { return podProblem(u, false) })
	}
	if e.NoBadPods {
		judgeEach(out, kind, objs, "unhealthy", "none crashing, failed, terminating or not ready", func(u *unstructured.Unstructured) string { return podProblem(u, true) })
	}
	if it := e.ContainerImageTag; it != nil {
		judgeEach(out, kind, objs, fmt.Sprintf("with container %s not at tag %s", it.Container, it.Tag),
			fmt.Sprintf("container %s at tag %s", it.Container, it.Tag),
			func(u *unstructured.Unstructured) string { return imageMismatch(u, it.Container, it.Tag) })
	}
	if it := e.NoContainerImageTag; it != nil {
		judgeEach(out, kind, objs, fmt.Sprintf("with container %s at tag %s", it.Container, it.Tag),
			fmt.Sprintf("no container %s at tag %s", it.Container, it.Tag),
			func(u *unstructured.Unstructured) string { return imageMatch(u, it.Container, it.Tag) })
	}
	if len(out.failures) > 0 || len(p.Publish) == 0 {
		return out, nil
	}
	first := objs[0]
	out.outputs = map[string]string{}
	for _, name := range p.Outputs() {
		path, err := ParseFieldPath(p.Publish[name])
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", name, err)
		}
		v, ok := path.LookupString(first.Object)
		if !ok {
			return nil, fmt.Errorf("publish %s: %s has no field %s", name, objDisplay(kind, first), path)
		}
		out.outputs[name] = v
		pass("published %s=%q from %s", name, v, objNSName(first.GetNamespace(), first.GetName()))
	}
	return out, nil
}

// judgeEach runs one per-object assertion and records it as one failure
// naming every offending object with what was found on it, e.g.
// `2 Pods not ready: app/web-7d9 (Ready=False: ContainersNotReady), ...`.
func judgeEach(out *checkOutcome, kind string, objs []*unstructured.Unstructured, failed, ok string, problem func(*unstructured.Unstructured) string) {
	var bad []*unstructured.Unstructured
	notes := map[*unstructured.Unstructured]string{}
	for _, u := range objs {
		if why := problem(u); why != "" {
			bad = append(bad, u)
			notes[u] = why
		}
	}
	if len(bad) == 0 {
		out.passed = append(out.passed, ok)
		return
	}
	noun := kind
	if len(bad) != 1 {
		noun = objPlural(kind)
	}
	var parts []string
	for i, u := range bad {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(bad)-10))
			break
		}
		parts = append(parts, objNSName(u.GetNamespace(), u.GetName())+" ("+notes[u]+")")
	}
	out.failures = append(out.failures, fmt.Sprintf("%d %s %s: %s", len(bad), noun, failed, strings.Join(parts, ", ")))
}

func fieldMismatch(u *unstructured.Unstructured, rawPath, want string) string {
	path, err := ParseFieldPath(rawPath)
	if err != nil {
		return err.Error()
	}
	got, ok := path.LookupString(u.Object)
	switch {
	case !ok:
		return path.String() + " not set"
	case got != want:
		return fmt.Sprintf("%q", got)
	}
	return ""
}
