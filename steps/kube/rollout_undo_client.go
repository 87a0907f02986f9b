package kube

import (
	"context"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
)

// kubectl's DeploymentRollbacker calls the API with context.TODO() and
// flattens errors with %v, so neither a step timeout nor the transient/
// permanent distinction would survive it. ctxKube hands it a client that
// substitutes our context and keeps the last API error intact. Only the
// calls the rollbacker makes are wrapped: Deployments Get and Patch, and
// ReplicaSets List.
type ctxKube struct {
	kubernetes.Interface
	ctx context.Context
	rec *errRecorder
}

type errRecorder struct {
	mu   sync.Mutex
	last error
}

func (r *errRecorder) record(err error) {
	if err != nil {
		r.mu.Lock()
		r.last = err
		r.mu.Unlock()
	}
}

func (r *errRecorder) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (c ctxKube) AppsV1() appsv1client.AppsV1Interface {
	return ctxApps{AppsV1Interface: c.Interface.AppsV1(), c: c}
}

type ctxApps struct {
	appsv1client.AppsV1Interface
	c ctxKube
}

func (a ctxApps) Deployments(ns string) appsv1client.DeploymentInterface {
	return ctxDeployments{DeploymentInterface: a.AppsV1Interface.Deployments(ns), c: a.c}
}

func (a ctxApps) ReplicaSets(ns string) appsv1client.ReplicaSetInterface {
	return ctxReplicaSets{ReplicaSetInterface: a.AppsV1Interface.ReplicaSets(ns), c: a.c}
}

type ctxDeployments struct {
	appsv1client.DeploymentInterface
	c ctxKube
}

func (d ctxDeployments) Get(_ context.Context, name string, o metav1.GetOptions) (*appsv1.Deployment, error) {
	got, err := d.DeploymentInterface.Get(d.c.ctx, name, o)
	d.c.rec.record(err)
	return got, err
}

func (d ctxDeployments) Patch(_ context.Context, name string, pt types.PatchType, data []byte, o metav1.PatchOptions, sub ...string) (*appsv1.Deployment, error) {
	got, err := d.DeploymentInterface.Patch(d.c.ctx, name, pt, data, o, sub...)
	d.c.rec.record(err)
	return got, err
}

type ctxReplicaSets struct {
	appsv1client.ReplicaSetInterface
	c ctxKube
}

func (r ctxReplicaSets) List(_ context.Context, o metav1.ListOptions) (*appsv1.ReplicaSetList, error) {
	got, err := r.ReplicaSetInterface.List(r.c.ctx, o)
	r.c.rec.record(err)
	return got, err
}

// causedError keeps the rollbacker's message and makes the API error it
// flattened available to errors.As, so IsTransient and apierrors see it.
type causedError struct {
	msg   string
	cause error
}

func (e *causedError) Error() string { return e.msg }
func (e *causedError) Unwrap() error { return e.cause }
