package kube

import "github.com/cairn-dev/cairn/steps"

func objectKinds(cluster ClusterFunc, deps steps.Deps) []steps.Kind { return nil }

func objectSources(cluster ClusterFunc, deps steps.Deps) []steps.Kind { return nil }
