//go:build integration

package kube

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/steps"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// objIT is one integration test's view of the local cluster: the kubetest
// environment for setup, and executors built through objectKinds with the
// clients the CLI would build (Load), so the kinds run with production
// settings.
type objIT struct {
	t   *testing.T
	env *kubetest.Env
	cl  *cluster.Clients
}

func newObjIT(t *testing.T) *objIT {
	t.Helper()
	env := kubetest.New(t)
	conn, err := cluster.Load(cluster.Source{Kubeconfig: env.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := conn.Clients()
	if err != nil {
		t.Fatal(err)
	}
	return &objIT{t: t, env: env, cl: cl}
}

func (it *objIT) clusterFunc() (*cluster.Clients, error) { return it.cl, nil }

// exec builds the executor of a kind or source by name.
func (it *objIT) exec(name string) steps.Executor {
	it.t.Helper()
	for _, k := range append(objectKinds(it.clusterFunc), objectSources(it.clusterFunc)...) {
		if k.Name == name {
			ex, err := k.New()
			if err != nil {
				it.t.Fatal(err)
			}
			return ex
		}
	}
	it.t.Fatalf("no kind %s", name)
	return nil
}

// in is an instance as the engine makes it for a first attempt; progress
// goes to the test log.
func (it *objIT) in(params any) steps.Instance {
	return steps.Instance{RunID: "run-" + it.t.Name(), StepID: "s", Attempt: 1, Token: time.Now().UTC().Format(time.RFC3339Nano),
		Params: params, Progress: func(m string) { it.t.Logf("progress: %s", m) }}
}

func (it *objIT) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	it.t.Cleanup(cancel)
	return c
}

func (it *objIT) run(ex steps.Executor, in steps.Instance) steps.Result {
	it.t.Helper()
	res, err := ex.Run(it.ctx(), in)
	if err != nil {
		it.t.Fatalf("Run: %v", err)
	}
	it.t.Logf("evidence: %s", res.Evidence)
	return res
}

// done asks the kind's Check as the engine does on resume.
func (it *objIT) done(ex steps.Executor, in steps.Instance) bool {
	it.t.Helper()
	ok, err := ex.(steps.Checker).Check(it.ctx(), in)
	if err != nil {
		it.t.Fatalf("Check: %v", err)
	}
	return ok
}

// objWantPermanent asserts err is Permanent and mentions every part.
func objWantPermanent(t *testing.T, err error, parts ...string) {
	t.Helper()
	var perm *steps.PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("err = %q\nwant it to contain %q", err, p)
		}
	}
}

func TestNamespacesSourceIntegration(t *testing.T) {
	it := newObjIT(t)
	key := kubetest.UniqueName("cairn-objects", 40)
	a := it.env.Namespace(t, map[string]string{key: "yes"})
	b := it.env.Namespace(t, map[string]string{key: "yes"})
	c := it.env.Namespace(t, map[string]string{key: "no"})
	src := it.exec("kube.namespaces").(steps.ItemSource)

	got, err := src.Items(it.ctx(), &NamespacesParams{Selector: key + "=yes"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a, b}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Items = %v, want %v (sorted, without %s)", got, want, c)
	}
	got, err = src.Items(it.ctx(), &NamespacesParams{Selector: key, Exclude: []string{b}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a, c}; !slices.Equal(got, objSorted(want)) {
		t.Errorf("Items(exists, exclude %s) = %v, want %v", b, got, objSorted(want))
	}
	if _, err := src.Items(it.ctx(), &NamespacesParams{Selector: "a in ("}); err == nil {
		t.Error("a bad rendered selector should fail")
	}
}

func objSorted(s []string) []string { slices.Sort(s); return s }

func TestNamesSourceIntegration(t *testing.T) {
	it := newObjIT(t)
	ns := it.env.Namespace(t, nil)
	for _, n := range []string{"web", "api", "db"} {
		it.env.CreateWorkload(t, ns, kubetest.Workload{Name: n, ProxyVersion: "1.14.0-asm.1", Labels: map[string]string{"app": n, "tier": map[bool]string{true: "data", false: "front"}[n == "db"]}})
	}
	src := it.exec("kube.names").(steps.ItemSource)
	got, err := src.Items(it.ctx(), &NamesParams{ObjectQuery: ObjectQuery{Kind: "deploy", Namespace: ns, Selector: "tier=front"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"api", "web"}) {
		t.Errorf("Items = %v, want [api web]", got)
	}
	_, err = src.Items(it.ctx(), &NamesParams{ObjectQuery: ObjectQuery{Kind: "Deployment"}})
	objWantPermanent(t, err, "Deployment is namespaced: set namespace")
}
