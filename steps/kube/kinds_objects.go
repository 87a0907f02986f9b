package kube

import "github.com/cairn-dev/cairn/steps"

// objectKinds are the kinds that read and change arbitrary objects: they
// resolve kinds through discovery and talk through the dynamic client, so
// CRDs (IstioOperator, DataPlaneControl, bare-metal Clusters) and
// cluster-scoped kinds work like built-in ones. None of them contacts the
// cluster before its first Run or Check.
func objectKinds(cluster ClusterFunc, deps steps.Deps) []steps.Kind {
	return []steps.Kind{
		applyKind(cluster),
		checkKind(cluster),
		deleteKind(cluster),
		waitForKind(cluster),
		tagSetKind(cluster),
	}
}

// objectSources are the foreach item sources that query the cluster.
func objectSources(cluster ClusterFunc, deps steps.Deps) []steps.Kind {
	return []steps.Kind{
		namespacesSourceKind(cluster),
		namesSourceKind(cluster),
	}
}
