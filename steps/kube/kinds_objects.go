package kube

import (
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// objectKinds are the kinds that read and change arbitrary objects: they
// resolve kinds through discovery and talk through the dynamic client, so
// CRDs (IstioOperator, DataPlaneControl, bare-metal Clusters) and
// cluster-scoped kinds work like built-in ones.
func objectKinds(clients cluster.ClientsFunc) []steps.Kind {
	return []steps.Kind{
		applyKind(clients),
		checkKind(clients),
		deleteKind(clients),
		waitForKind(clients),
		tagSetKind(clients),
	}
}

// objectSources are the foreach item sources that query the cluster.
func objectSources(clients cluster.ClientsFunc) []steps.Kind {
	return []steps.Kind{
		namespacesSourceKind(clients),
		namesSourceKind(clients),
	}
}
