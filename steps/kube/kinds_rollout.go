package kube

import "github.com/cairn-dev/cairn/steps"

func rolloutKinds(cluster ClusterFunc, deps steps.Deps) []steps.Kind { return nil }
