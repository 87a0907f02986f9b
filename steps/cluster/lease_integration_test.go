//go:build integration

package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// cutTransport fails every request while cut is set, as a lost network would.
type cutTransport struct {
	next http.RoundTripper
	cut  *atomic.Bool
}

func (c cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, &netError{}
	}
	return c.next.RoundTrip(r)
}

type netError struct{}

func (*netError) Error() string   { return "connection refused (test cut the network)" }
func (*netError) Unwrap() error   { return syscall.ECONNREFUSED }
func (*netError) Timeout() bool   { return false }
func (*netError) Temporary() bool { return true }

type leaseTest struct {
	t   *testing.T
	env *kubetest.Env
	ns  string
	cut atomic.Bool
	cs  kubernetes.Interface
}

func newLeaseTest(t *testing.T) *leaseTest {
	env := kubetest.New(t)
	lt := &leaseTest{t: t, env: env, ns: env.Namespace(t, nil)}
	cfg := rest.CopyConfig(env.RESTConfig)
	cfg.Timeout = 5 * time.Second
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return cutTransport{next: rt, cut: &lt.cut} }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lt.cs = cs
	return lt
}

// lock returns a Lock with short timings, so renewals and expiry happen
// within a test.
func (lt *leaseTest) lock() *cluster.Lock {
	return &cluster.Lock{Client: lt.cs, Namespace: lt.ns, Duration: 3 * time.Second, Renew: 300 * time.Millisecond,
		Timeout: 20 * time.Second, Grace: time.Millisecond, Log: zerolog.New(zerolog.NewTestWriter(lt.t))}
}

func (lt *leaseTest) get() (*coordv1.Lease, error) {
	return lt.env.Clientset.CoordinationV1().Leases(lt.ns).Get(context.Background(), cluster.DefaultLockName, metav1.GetOptions{})
}

func holder(run string) cluster.Holder {
	return cluster.Holder{User: "alice", Host: "laptop", RunID: run, Command: "run", PID: 42, Since: time.Now()}
}

func TestLeaseRefusesSecondHolderUntilReleased(t *testing.T) {
	lt := newLeaseTest(t)
	ctx := context.Background()
	a, err := lt.lock().Acquire(ctx, holder("run-a"))
	if err != nil {
		t.Fatal(err)
	}
	b := holder("run-b")
	b.User, b.Host = "bob", "desk"
	_, err = lt.lock().Acquire(ctx, b)
	var held *cluster.HeldError
	if !errors.As(err, &held) || held.Holder.RunID != "run-a" || !strings.Contains(err.Error(), "alice@laptop") {
		t.Fatalf("second Acquire: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := lt.get(); !apierrors.IsNotFound(err) {
		t.Fatalf("lease after release: %v", err)
	}
	bl, err := lt.lock().Acquire(ctx, b)
	if err != nil || bl.TakenOver() != "" {
		t.Fatalf("Acquire after release: %v (taken over %q)", err, bl.TakenOver())
	}
	_ = bl.Release(ctx)
}

// Of several processes racing for one stale lease exactly one wins: each
// write is conditional on the resourceVersion it read.
func TestLeaseRacingTakersOneWins(t *testing.T) {
	lt := newLeaseTest(t)
	ctx := context.Background()
	stale, _ := json.Marshal(holder("run-dead"))
	id, secs, old := "cairn run-dead alice@laptop pid 1", int32(60), metav1.NewMicroTime(time.Now().Add(-time.Hour))
	_, err := lt.env.Clientset.CoordinationV1().Leases(lt.ns).Create(ctx, &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: cluster.DefaultLockName, Annotations: map[string]string{cluster.HolderAnnotation: string(stale)}},
		Spec:       coordv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &secs, RenewTime: &old, AcquireTime: &old},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []*cluster.HeldLease
		refused int
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := holder("run-" + string(rune('a'+i)))
			<-start
			got, err := lt.lock().Acquire(ctx, h)
			mu.Lock()
			defer mu.Unlock()
			var held *cluster.HeldError
			switch {
			case err == nil:
				winners = append(winners, got)
			case errors.As(err, &held):
				refused++
			default:
				t.Errorf("taker %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 || refused != n-1 {
		t.Fatalf("%d winners, %d refused; want exactly one winner", len(winners), refused)
	}
	if !strings.Contains(winners[0].TakenOver(), "run-dead") || !strings.Contains(winners[0].TakenOver(), "stale since") {
		t.Fatalf("takeover described as %q", winners[0].TakenOver())
	}
	_ = winners[0].Release(ctx)
}

func TestLeaseSurvivesShortOutageAndIsLostAfterItsDuration(t *testing.T) {
	lt := newLeaseTest(t)
	ctx := context.Background()
	held, err := lt.lock().Acquire(ctx, holder("run-a"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := lt.get()
	if err != nil {
		t.Fatal(err)
	}
	// Shorter than the 3s duration: renewals fail, the lock stays.
	lt.cut.Store(true)
	time.Sleep(1500 * time.Millisecond)
	lt.cut.Store(false)
	waitFor(t, "a renewal after the outage", func() bool {
		cur, err := lt.get()
		return err == nil && cur.Spec.RenewTime.After(first.Spec.RenewTime.Time) && cur.ResourceVersion != first.ResourceVersion
	})
	select {
	case <-held.Lost():
		t.Fatalf("lost after a short outage: %v", held.Err())
	default:
	}
	// Longer than the duration: the lock must be given up, since another
	// run may now take it.
	lt.cut.Store(true)
	select {
	case <-held.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("the lock was not given up after renewals failed for its duration")
	}
	if !strings.Contains(held.Err().Error(), "could not renew") {
		t.Fatalf("lost because: %v", held.Err())
	}
	lt.cut.Store(false)
	if err := held.Release(ctx); err != nil {
		t.Fatalf("release after the outage: %v", err)
	}
}

func TestLeaseTakenByAnotherIsLostAndNotDeleted(t *testing.T) {
	lt := newLeaseTest(t)
	ctx := context.Background()
	held, err := lt.lock().Acquire(ctx, holder("run-a"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := lt.get()
	if err != nil {
		t.Fatal(err)
	}
	other := "someone else"
	cur.Spec.HolderIdentity = &other
	delete(cur.Annotations, cluster.HolderAnnotation)
	now := metav1.NewMicroTime(time.Now())
	cur.Spec.RenewTime = &now
	if _, err := lt.env.Clientset.CoordinationV1().Leases(lt.ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("a lease taken by someone else was not noticed")
	}
	if !strings.Contains(held.Err().Error(), "someone else") {
		t.Fatalf("lost because: %v", held.Err())
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := lt.get(); err != nil || *got.Spec.HolderIdentity != other {
		t.Fatalf("release touched the other holder's lease: %v %v", got, err)
	}
}

// A fresh lease left by an earlier process of the same run on the same host
// (killed before it could release) is taken over at once: the journal lock
// already guarantees that process is gone.
func TestLeaseLeftByOwnRunIsTakenOverAtOnce(t *testing.T) {
	lt := newLeaseTest(t)
	ctx := context.Background()
	dead, err := lt.lock().Acquire(ctx, holder("run-a"))
	if err != nil {
		t.Fatal(err)
	}
	_ = dead // never released, as if killed; its renewals go on in the background
	next := holder("run-a")
	next.PID = 43
	again, err := lt.lock().Acquire(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again.TakenOver(), "left behind by a process of this run") {
		t.Fatalf("takeover described as %q", again.TakenOver())
	}
	_ = again.Release(ctx)
	_ = dead.Release(ctx) // lost by now or not: it must not delete another's lease
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
