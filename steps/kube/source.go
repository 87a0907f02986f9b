package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/playbooks"
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// NamespacesParams are the params of the kube.namespaces item source.
type NamespacesParams struct {
	// Selector is a label selector, e.g. "istio-injection=enabled" or
	// "istio.io/rev in (asm-1130-0, default)"; empty selects every
	// namespace.
	Selector string   `yaml:"selector" json:"selector,omitempty"`
	Exclude  []string `yaml:"exclude" json:"exclude,omitempty"`
}

// Validate parses the selector unless it holds a reference.
func (p *NamespacesParams) Validate() []playbooks.FieldError {
	var errs objFieldErrs
	if msg := checkObjSelector(p.Selector); msg != "" {
		errs.add("selector", "%s", msg)
	}
	checkObjExclude(&errs, p.Exclude)
	return errs
}

func checkObjExclude(errs *objFieldErrs, exclude []string) {
	for i, e := range exclude {
		if strings.TrimSpace(e) == "" {
			errs.add(fmt.Sprintf("exclude.%d", i), "must name an object")
		}
	}
}

// NamesParams are the params of the kube.names item source: the names of
// the objects a query selects, in one namespace (or cluster-scoped).
type NamesParams struct {
	ObjectQuery `yaml:",inline" json:",inline"`
	Exclude     []string `yaml:"exclude" json:"exclude,omitempty"`
}

// Validate rejects allNamespaces: items are bare names, and the same name
// in two namespaces would be two different objects under one item.
func (p *NamesParams) Validate() []playbooks.FieldError {
	var errs objFieldErrs
	p.validateQuery(errs.add)
	if p.AllNamespaces {
		errs.add("allNamespaces", "is not supported by kube.names: items are bare names, so set one namespace")
	}
	checkObjExclude(&errs, p.Exclude)
	return errs
}

func namespacesSourceKind(clients cluster.ClientsFunc) steps.Kind {
	return steps.Kind{
		Name:         "kube.namespaces",
		Summary:      "foreach source: the names of the namespaces matching a label selector, sorted",
		NewParams:    func() any { return &NamespacesParams{} },
		New:          lazy(clients, func(cl *cluster.Clients) steps.Executor { return &namespacesSource{cl: cl} }),
		NeedsCluster: true,
		ReadOnly:     true,
	}
}

func namesSourceKind(clients cluster.ClientsFunc) steps.Kind {
	return steps.Kind{
		Name:         "kube.names",
		Summary:      "foreach source: the names of the objects of a kind matching a selector, sorted",
		NewParams:    func() any { return &NamesParams{} },
		New:          lazy(clients, func(cl *cluster.Clients) steps.Executor { return &namesSource{cl: cl} }),
		NeedsCluster: true,
		ReadOnly:     true,
	}
}

type namespacesSource struct{ cl *cluster.Clients }

func (s *namespacesSource) Run(context.Context, steps.Instance) (steps.Result, error) {
	return steps.Result{}, errObjSource("kube.namespaces")
}

func errObjSource(kind string) error {
	return steps.Permanent(fmt.Errorf("%s is an item source: use it under foreach, e.g. foreach: {%s: {...}}", kind, kind))
}

// Items lists the matching namespaces. Namespaces being deleted are left
// out: nothing an upgrade step does to one can succeed, and it is about to
// disappear anyway.
func (s *namespacesSource) Items(ctx context.Context, params any) ([]string, error) {
	p, err := objParams[NamespacesParams]("kube.namespaces", params)
	if err != nil {
		return nil, err
	}
	if msg := checkObjSelector(p.Selector); msg != "" {
		return nil, steps.Permanent(fmt.Errorf("kube.namespaces: %s", msg))
	}
	cl := s.cl
	var list *corev1.NamespaceList
	err = cluster.Do(ctx, func(ctx context.Context) error {
		var err error
		list, err = cl.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: p.Selector})
		return err
	})
	if err != nil {
		return nil, objAPIErr(ctx, fmt.Errorf("listing namespaces with selector %q: %w", p.Selector, err))
	}
	var names []string
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating || slices.Contains(p.Exclude, ns.Name) {
			continue
		}
		names = append(names, ns.Name)
	}
	sort.Strings(names)
	return names, nil
}

type namesSource struct{ cl *cluster.Clients }

func (s *namesSource) Run(context.Context, steps.Instance) (steps.Result, error) {
	return steps.Result{}, errObjSource("kube.names")
}

// Items lists the names of the selected objects.
func (s *namesSource) Items(ctx context.Context, params any) ([]string, error) {
	p, err := objParams[NamesParams]("kube.names", params)
	if err != nil {
		return nil, err
	}
	cl := s.cl
	t, err := resolveObjQuery(ctx, cl, p.ObjectQuery)
	if err != nil {
		return nil, err
	}
	objs, err := t.list(ctx, cl)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		if !slices.Contains(p.Exclude, o.GetName()) {
			names = append(names, o.GetName())
		}
	}
	sort.Strings(names)
	return names, nil
}
