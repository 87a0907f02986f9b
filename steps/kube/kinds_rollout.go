package kube

import "github.com/cairn-dev/cairn/steps"

// rolloutKinds lists the kinds that change or watch workloads: labels and
// annotations, rollout restart/status/undo, and scale. Their executors are
// built on first use and never contact the server while being built.
func rolloutKinds(cluster ClusterFunc, deps steps.Deps) []steps.Kind {
	lazy := func(build func(*steps.Cluster) steps.Executor) func() (steps.Executor, error) {
		return func() (steps.Executor, error) {
			cl, err := clusterOf(cluster)
			if err != nil {
				return nil, err
			}
			return build(cl), nil
		}
	}
	return append(labelKinds(cluster),
		steps.Kind{
			Name:      "kube.rolloutRestart",
			Summary:   "restart Deployments as `kubectl rollout restart` does; a resumed run never restarts them twice",
			NewParams: func() any { return &RestartParams{} },
			New:       lazy(func(cl *steps.Cluster) steps.Executor { return &restarter{cl: cl} }),
		},
		steps.Kind{
			Name:      "kube.rolloutStatus",
			Summary:   "wait, with one watch, until Deployments have rolled out as `kubectl rollout status` judges it",
			NewParams: func() any { return &RolloutStatusParams{} },
			New:       lazy(func(cl *steps.Cluster) steps.Executor { return &statusWaiter{cl: cl} }),
		},
		steps.Kind{
			Name:      "kube.rolloutUndo",
			Summary:   "roll a Deployment back to its previous (or a given) revision, once per instance even across resumes",
			NewParams: func() any { return &UndoParams{} },
			New:       lazy(func(cl *steps.Cluster) steps.Executor { return &undoer{cl: cl} }),
		},
		steps.Kind{
			Name:      "kube.scale",
			Summary:   "set the replicas of a Deployment (or anything with a scale subresource), optionally waiting for the rollout",
			NewParams: func() any { return &ScaleParams{} },
			New:       lazy(func(cl *steps.Cluster) steps.Executor { return &scaler{cl: cl} }),
		},
	)
}
