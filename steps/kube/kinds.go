package kube

import (
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// Kinds lists every Kubernetes step kind. Their executors are built the
// first time a step of the kind runs, from clients that are built then too,
// so that validate and plan never load a kubeconfig.
func Kinds(clients cluster.ClientsFunc) []steps.Kind {
	return append(rolloutKinds(clients), objectKinds(clients)...)
}

// Sources lists the foreach item sources that query the cluster.
func Sources(clients cluster.ClientsFunc) []steps.Kind {
	return objectSources(clients)
}

// lazy builds an executor from the cluster's clients when it is first
// needed. Building clients does not contact the server.
func lazy(clients cluster.ClientsFunc, build func(*cluster.Clients) steps.Executor) func() (steps.Executor, error) {
	return func() (steps.Executor, error) {
		if clients == nil {
			return nil, cluster.ErrNotConfigured
		}
		cl, err := clients()
		if err != nil {
			return nil, err
		}
		if cl == nil {
			return nil, cluster.ErrNotConfigured
		}
		return build(cl), nil
	}
}
