package kube

import (
	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
)

// rolloutKinds lists the kinds that change or watch workloads: labels and
// annotations, rollout restart/status/undo, and scale. Their executors are
// built on first use and never contact the server while being built.
func rolloutKinds(clients cluster.ClientsFunc) []steps.Kind {
	kind := func(name, summary string, newParams func() any, build func(*cluster.Clients) steps.Executor) steps.Kind {
		return steps.Kind{Name: name, Summary: summary, NewParams: newParams, New: lazy(clients, build), NeedsCluster: true,
			ReadOnly: name == "kube.rolloutStatus"}
	}
	return append(labelKinds(clients),
		kind("kube.rolloutRestart",
			"restart Deployments as `kubectl rollout restart` does; a resumed run never restarts them twice",
			func() any { return &RestartParams{} },
			func(cl *cluster.Clients) steps.Executor { return &restarter{cl: cl} }),
		kind("kube.rolloutStatus",
			"wait, with one watch, until Deployments have rolled out as `kubectl rollout status` judges it",
			func() any { return &RolloutStatusParams{} },
			func(cl *cluster.Clients) steps.Executor { return &statusWaiter{cl: cl} }),
		kind("kube.rolloutUndo",
			"roll a Deployment back to its previous (or a given) revision, once per instance even across resumes",
			func() any { return &UndoParams{} },
			func(cl *cluster.Clients) steps.Executor { return &undoer{cl: cl} }),
		kind("kube.scale",
			"set the replicas of a Deployment (or anything with a scale subresource), optionally waiting for the rollout",
			func() any { return &ScaleParams{} },
			func(cl *cluster.Clients) steps.Executor { return &scaler{cl: cl} }),
	)
}
