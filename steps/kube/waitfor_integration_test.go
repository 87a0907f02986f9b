//go:build integration

package kube

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// onFirstProgress runs fn (in another goroutine) once the step reports
// progress from inside its watch: a change made then can only be seen
// through the watch, never by the step's first list.
func onFirstProgress(t *testing.T, in *steps.Instance, fn func(context.Context) error) <-chan error {
	var once sync.Once
	done := make(chan error, 1)
	in.Progress = func(m string) {
		t.Logf("progress: %s", m)
		once.Do(func() { go func() { done <- fn(context.Background()) }() })
	}
	return done
}

// setStatus writes status into a custom resource; the test CRDs have no
// status subresource, so a merge patch of the object does it.
func setStatus(it *objIT, u *unstructured.Unstructured, status string) func(context.Context) error {
	return func(c context.Context) error {
		_, err := it.env.Dynamic.Resource(kubetest.IstioOperatorGVR).Namespace(u.GetNamespace()).
			Patch(c, u.GetName(), types.MergePatchType, []byte(`{"status":`+status+`}`), metav1.PatchOptions{})
		return err
	}
}

func TestWaitForConditionBecomesTrueIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	iop := it.env.CreateInstalledState(t, ns, kubetest.UniqueName("asm", 20), nil)
	if err := setStatus(it, iop, `{"conditions":[{"type":"Ready","status":"False","reason":"Reconciling"}]}`)(it.ctx()); err != nil {
		t.Fatal(err)
	}
	ex := it.exec("kube.waitFor")
	p := &WaitForParams{ObjectQuery: ObjectQuery{Kind: "iop", Namespace: ns, Name: iop.GetName()}, Condition: &WaitCondition{Type: "Ready"}, Timeout: time.Minute}
	in := it.in(p)
	if it.done(ex, in) {
		t.Fatal("Check says done while Ready=False")
	}
	flipped := onFirstProgress(t, &in, setStatus(it, iop, `{"conditions":[{"type":"Ready","status":"True","reason":"Healthy"}]}`))
	res := it.run(ex, in)
	if err := <-flipped; err != nil {
		t.Fatal(err)
	}
	if want := "1/1 IstioOperators satisfied: " + ns + "/" + iop.GetName() + " (Ready=True: Healthy)"; res.Evidence != want {
		t.Errorf("evidence = %q, want %q", res.Evidence, want)
	}
	if !it.done(ex, in) {
		t.Error("Check after Run: not done")
	}
	// Run again (a resume) returns at once from its first list.
	in.Progress = func(m string) { t.Errorf("a satisfied wait should not watch, got progress %q", m) }
	it.run(ex, in)
}

func TestWaitForTimeoutIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	iop := it.env.CreateInstalledState(t, ns, kubetest.UniqueName("asm", 20), nil)
	ex := it.exec("kube.waitFor")
	p := &WaitForParams{ObjectQuery: ObjectQuery{Kind: "IstioOperator", Namespace: ns, Name: iop.GetName()}, Condition: &WaitCondition{Type: "Ready"}, Timeout: time.Second}
	_, err := ex.Run(it.ctx(), it.in(p))
	if err == nil {
		t.Fatal("Run succeeded without a Ready condition")
	}
	want := "timed out after 1s waiting for IstioOperator " + ns + "/" + iop.GetName() + " to have condition Ready=True (all): 0/1 IstioOperators satisfied; waiting for " + ns + "/" + iop.GetName() + " (no Ready condition)"
	if err.Error() != want {
		t.Errorf("err = %q\nwant %q", err, want)
	}
	var perm *steps.PermanentError
	if errors.As(err, &perm) {
		t.Error("a timeout should not be permanent: a retry may pass")
	}
	_, err = ex.Run(it.ctx(), it.in(&WaitForParams{ObjectQuery: ObjectQuery{Kind: "IstioOperator"}, Deleted: true}))
	objWantPermanent(t, err, "IstioOperator is namespaced: set namespace, or allNamespaces: true")
}

// Seed E: wait until any DataPlaneControl-like object reports the rapid
// revision with a state other than none; then wait for all of them to go.
func TestWaitForFieldsAnyAndDeletedIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	// The revision is unique: the query spans all namespaces, which other
	// tests share.
	rapid := kubetest.UniqueName("rapid", 20)
	a := it.env.CreateInstalledState(t, ns, kubetest.UniqueName("rapid", 20), map[string]any{"revision": rapid})
	b := it.env.CreateInstalledState(t, ns, kubetest.UniqueName("regular", 20), map[string]any{"revision": "regular"})
	for _, u := range []*unstructured.Unstructured{a, b} {
		if err := setStatus(it, u, `{"state":"none"}`)(it.ctx()); err != nil {
			t.Fatal(err)
		}
	}
	ex := it.exec("kube.waitFor")
	p := &WaitForParams{ObjectQuery: ObjectQuery{Kind: "IstioOperator", AllNamespaces: true},
		Fields: []FieldCondition{{Path: "spec.revision", Equals: rapid}, {Path: "status.state", NotEquals: "none"}},
		Match:  "any", Timeout: time.Minute}
	in := it.in(p)
	// b reaching a state does not count: its revision is not rapid.
	flipped := onFirstProgress(t, &in, func(c context.Context) error {
		if err := setStatus(it, b, `{"state":"ACTIVE"}`)(c); err != nil {
			return err
		}
		return setStatus(it, a, `{"state":"ACTIVE"}`)(c)
	})
	res := it.run(ex, in)
	if err := <-flipped; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Evidence, a.GetName()+` (spec.revision="`+rapid+`", status.state="ACTIVE")`) {
		t.Errorf("evidence = %q", res.Evidence)
	}

	del := &WaitForParams{ObjectQuery: ObjectQuery{Kind: "IstioOperator", Namespace: ns}, Deleted: true, Timeout: time.Minute}
	in = it.in(del)
	if it.done(ex, in) {
		t.Fatal("Check says deleted while both exist")
	}
	deleted := onFirstProgress(t, &in, func(c context.Context) error {
		return it.env.Dynamic.Resource(kubetest.IstioOperatorGVR).Namespace(ns).DeleteCollection(c, metav1.DeleteOptions{}, metav1.ListOptions{})
	})
	res = it.run(ex, in)
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if res.Evidence != "no IstioOperators in "+ns+" left" {
		t.Errorf("evidence = %q", res.Evidence)
	}
	if !it.done(ex, in) {
		t.Error("Check after deletion: not done")
	}
}

// Real controllers drive the condition: a Deployment becomes Available.
func TestWaitForDeploymentAvailableIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	it.env.CreateWorkload(t, ns, kubetest.Workload{Name: "web", Replicas: 2, ProxyVersion: "1.14.0-asm.1"})
	p := &WaitForParams{ObjectQuery: ObjectQuery{Kind: "deployments", Namespace: ns, Selector: "app=web"}, Condition: &WaitCondition{Type: "Available"}}
	res := it.run(it.exec("kube.waitFor"), it.in(p))
	if !strings.Contains(res.Evidence, ns+"/web (Available=True") {
		t.Errorf("evidence = %q", res.Evidence)
	}
	d, err := it.env.Clientset.AppsV1().Deployments(ns).Get(it.ctx(), "web", metav1.GetOptions{})
	if err != nil || d.Status.AvailableReplicas < 1 {
		t.Errorf("deployment after the wait: %+v %v", d.Status, err)
	}
}

// The watch outlives an API server restart: the informer relists, and a
// change made after the restart still ends the wait.
func TestWaitForSurvivesAPIServerRestartIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	iop := it.env.CreateInstalledState(t, ns, kubetest.UniqueName("asm", 20), nil)
	p := &WaitForParams{ObjectQuery: ObjectQuery{Kind: "IstioOperator", Namespace: ns, Name: iop.GetName()},
		Field: &FieldCondition{Path: "status.state", Equals: "HEALTHY"}, Timeout: 5 * time.Minute}
	in := it.in(p)
	watching := make(chan struct{})
	var once sync.Once
	in.Progress = func(m string) { t.Logf("progress: %s", m); once.Do(func() { close(watching) }) }
	type result struct {
		res steps.Result
		err error
	}
	done := make(chan result, 1)
	ex := it.exec("kube.waitFor")
	// A restart under load can take a minute or more; the deadline is not
	// what is under test.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	go func() {
		res, err := ex.Run(ctx, in)
		done <- result{res, err}
	}()
	<-watching
	start := time.Now()
	it.env.RestartAPIServer(t, time.Second)
	t.Logf("API server back after %v", time.Since(start))
	if err := setStatus(it, iop, `{"state":"HEALTHY"}`)(it.ctx()); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	r := <-done
	t.Logf("the wait saw the change after %v", time.Since(changed))
	if r.err != nil {
		t.Fatalf("Run across a restart: %v", r.err)
	}
	if !strings.Contains(r.res.Evidence, `status.state="HEALTHY"`) {
		t.Errorf("evidence = %q", r.res.Evidence)
	}
}
