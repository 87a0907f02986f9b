package kube

import (
	"github.com/cairn-dev/cairn/steps"
)

// ClusterFunc returns the cluster clients, building them on first use.
type ClusterFunc func() (*steps.Cluster, error)

// Kinds lists every Kubernetes step kind. Sources lists the foreach item
// sources that query the cluster.
func Kinds(cluster ClusterFunc, deps steps.Deps) []steps.Kind {
	return append(rolloutKinds(cluster, deps), objectKinds(cluster, deps)...)
}

// Sources lists the item sources that query the cluster.
func Sources(cluster ClusterFunc, deps steps.Deps) []steps.Kind {
	return objectSources(cluster, deps)
}
