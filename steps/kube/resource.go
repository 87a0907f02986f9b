package kube

import (
	"context"
	"fmt"

	"github.com/cairn-dev/cairn/steps/cluster"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Mapping is a resource as the API serves it.
type Mapping struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

type resetter interface{ Reset() }

// Resolve maps a kind as a person writes it (Deployment, deploy,
// deployments, IstioOperator, istiooperators.install.istio.io) to the
// resource the API serves, through discovery, as kubectl does. A kind that
// is not found triggers one fresh discovery, since a CRD may have been
// created since the cache was filled.
func Resolve(ctx context.Context, m meta.RESTMapper, kind string) (Mapping, error) {
	var out Mapping
	err := cluster.Do(ctx, func(context.Context) error {
		mp, err := resolve(m, kind)
		if meta.IsNoMatchError(err) {
			if r, ok := m.(resetter); ok {
				r.Reset()
				mp, err = resolve(m, kind)
			}
		}
		out = mp
		return err
	})
	if meta.IsNoMatchError(err) {
		return out, fmt.Errorf("the cluster serves no resource %q (is its CRD installed?)", kind)
	}
	return out, err
}

func resolve(m meta.RESTMapper, kind string) (Mapping, error) {
	gvr, err := m.ResourceFor(schema.ParseGroupResource(kind).WithVersion(""))
	if err != nil {
		return Mapping{}, err
	}
	gvk, err := m.KindFor(gvr)
	if err != nil {
		return Mapping{}, err
	}
	rm, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{GVR: rm.Resource, Kind: gvk.Kind, Namespaced: rm.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}
