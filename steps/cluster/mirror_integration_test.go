//go:build integration

package cluster_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

type mirrorTest struct {
	t   *testing.T
	env *kubetest.Env
	ns  string
	cut atomic.Bool
	cs  kubernetes.Interface // through cutTransport
}

func newMirrorTest(t *testing.T) *mirrorTest {
	env := kubetest.New(t)
	mt := &mirrorTest{t: t, env: env, ns: env.Namespace(t, nil)}
	cfg := rest.CopyConfig(env.RESTConfig)
	cfg.Timeout = 5 * time.Second
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return cutTransport{next: rt, cut: &mt.cut} })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mt.cs = cs
	return mt
}

func isStarted(e journal.Event) bool { return e.Type == "instance.started" }

func (mt *mirrorTest) journal() *journal.DB {
	mt.t.Helper()
	db, err := journal.Open(filepath.Join(mt.t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		mt.t.Fatal(err)
	}
	mt.t.Cleanup(func() { db.Close() })
	return db
}

func (mt *mirrorTest) mirror(db *journal.DB, writer string) *cluster.Mirror {
	return &cluster.Mirror{Journal: db, Writer: writer, Sync: isStarted,
		Store: &cluster.MirrorStore{Client: mt.cs, Namespace: mt.ns, HeadBudget: 4096, ChunkBudget: 2048}}
}

func (mt *mirrorTest) store() *cluster.MirrorStore {
	return &cluster.MirrorStore{Client: mt.env.Clientset, Namespace: mt.ns}
}

func newRun(t *testing.T, m *cluster.Mirror) journal.Run {
	t.Helper()
	r := journal.Run{ID: journal.NewRunID(time.Now()), Playbook: "p", PlaybookFile: "builtin:p", Source: []byte("steps: []\n"),
		Params: map[string]string{"token": "[REDACTED]"}, User: "ann", Host: "h1", Started: time.Now().UTC()}
	if err := m.CreateRun(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func appendOK(t *testing.T, m *cluster.Mirror, id string, e journal.Event) journal.Event {
	t.Helper()
	got, err := m.Append(id, e)
	if err != nil {
		t.Fatalf("append %s: %v", e.Type, err)
	}
	return got
}

// headSeq is the seq of the run's head in the cluster, read directly.
func (mt *mirrorTest) headSeq(id string) uint64 {
	mt.t.Helper()
	c, err := mt.store().Read(context.Background(), id)
	if err != nil {
		mt.t.Fatal(err)
	}
	return c.Head.Seq
}

// A started event is in the cluster when Append returns; other events wait
// for the next started event or Flush. A long run is sealed into chunks,
// and what the cluster holds checks, reads back as the local journal's
// events and imports into another journal that verifies.
func TestMirrorWritesStartedAtOnceAndKeepsTheChain(t *testing.T) {
	mt := newMirrorTest(t)
	db := mt.journal()
	m := mt.mirror(db, "ann@h1 pid 1")
	r := newRun(t, m)
	appendOK(t, m, r.ID, journal.Event{Type: "run.started"})
	if _, err := mt.cs.CoreV1().ConfigMaps(mt.ns).Get(context.Background(), "cairn-run-"+r.ID, metav1.GetOptions{}); err == nil {
		t.Fatal("run.started was written at once; it may wait for the next started event")
	}
	for i := 0; i < 40; i++ {
		st := appendOK(t, m, r.ID, journal.Event{Type: "instance.started", Step: "s", Item: string(rune('a' + i%26)), Token: "tok", Evidence: strings.Repeat("e", 100)})
		if got := mt.headSeq(r.ID); got != st.Seq {
			t.Fatalf("after started seq %d returned, the cluster's head is at %d", st.Seq, got)
		}
		appendOK(t, m, r.ID, journal.Event{Type: "instance.succeeded", Step: "s", Item: "x"})
	}
	appendOK(t, m, r.ID, journal.Event{Type: "run.succeeded"})
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := mt.store().Read(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check("mirror", r.ID); err != nil {
		t.Fatalf("mirror does not check: %v", err)
	}
	local, _ := db.Events(r.ID)
	if !reflect.DeepEqual(normal(c.Events), normal(local)) {
		t.Fatalf("mirror has %d events, local %d, or they differ", len(c.Events), len(local))
	}
	cms, err := mt.env.Clientset.CoreV1().ConfigMaps(mt.ns).List(context.Background(), metav1.ListOptions{LabelSelector: cluster.MirrorRunLabel + "=" + r.ID})
	if err != nil || len(cms.Items) < 3 {
		t.Fatalf("want a head and sealed chunks, got %d objects (%v)", len(cms.Items), err)
	}
	other := mt.journal()
	if err := other.ImportChained(c); err != nil {
		t.Fatal(err)
	}
	if err := other.Verify(r.ID); err != nil {
		t.Fatal(err)
	}
	runs, err := mt.store().List(context.Background())
	if err != nil || len(runs) != 1 || runs[0].Run.ID != r.ID || runs[0].Last.Type != "run.succeeded" || runs[0].Writer != "ann@h1 pid 1" {
		t.Fatalf("list: %+v %v", runs, err)
	}
}

// normal drops what decoding JSON does not keep apart (time zones).
func normal(evs []journal.Event) []journal.Event {
	out := make([]journal.Event, len(evs))
	for i, e := range evs {
		e.Time = e.Time.UTC()
		out[i] = e
	}
	return out
}

// Two processes that read the same head and both extend it: the first
// wins, the second gets a ConflictError naming the first, and the mirror
// holds the winner's history, which checks. A journal that is behind the
// mirror is refused when it attaches.
func TestMirrorSecondWriterLoses(t *testing.T) {
	mt := newMirrorTest(t)
	a := mt.mirror(mt.journal(), "ann@h1 pid 1")
	r := newRun(t, a)
	appendOK(t, a, r.ID, journal.Event{Type: "instance.started", Step: "s", Token: "t1"})
	c, err := mt.store().Read(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	bdb := mt.journal()
	if err := bdb.ImportChained(c); err != nil {
		t.Fatal(err)
	}
	b := mt.mirror(bdb, "bob@h2 pid 2")
	if err := b.Attach(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	appendOK(t, a, r.ID, journal.Event{Type: "instance.started", Step: "s2", Token: "t2"})
	_, err = b.Append(r.ID, journal.Event{Type: "instance.started", Step: "other", Token: "t3"})
	var ce *cluster.ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "ann@h1 pid 1") || !strings.Contains(err.Error(), "this one stops") {
		t.Fatalf("second writer: %v", err)
	}
	got, err := mt.store().Read(context.Background(), r.ID)
	if err != nil || got.Check("mirror", r.ID) != nil || got.Head.Seq != 2 || got.Events[1].Step != "s2" {
		t.Fatalf("mirror after the race: %+v %v", got.Head, err)
	}
	// b's journal is now behind and different: it may not attach again.
	b2 := mt.mirror(bdb, "bob@h2 pid 3")
	if err := b2.Attach(context.Background(), r.ID); !errors.As(err, &ce) || !strings.Contains(err.Error(), "--from-cluster") {
		t.Fatalf("attach of a diverged journal: %v", err)
	}
}

// The network is lost while a started event is written: the write is
// retried until the network is back, within the caller's deadline; past
// the deadline it fails, the event stays queued, and goes with the next
// write.
func TestMirrorRidesOutLostNetwork(t *testing.T) {
	mt := newMirrorTest(t)
	m := mt.mirror(mt.journal(), "ann@h1 pid 1")
	r := newRun(t, m)
	mt.cut.Store(true)
	go func() { time.Sleep(2 * time.Second); mt.cut.Store(false) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.AppendContext(ctx, r.ID, journal.Event{Type: "instance.started", Step: "a"}); err != nil {
		t.Fatalf("a 2s outage was not ridden out: %v", err)
	}
	mt.cut.Store(true)
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err := m.AppendContext(short, r.ID, journal.Event{Type: "instance.started", Step: "b"})
	var me *cluster.MirrorError
	if !errors.As(err, &me) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an outage past the deadline: %v", err)
	}
	mt.cut.Store(false)
	appendOK(t, m, r.ID, journal.Event{Type: "instance.started", Step: "c"})
	if got := mt.headSeq(r.ID); got != 3 {
		t.Fatalf("head at %d, want 3: the queued event went with the next write", got)
	}
}

// The head, rewritten at every write, stays small however long the run
// and however large the playbook: the text is written once in an object
// of its own, and events past the budget are sealed. A head that holds the
// text inline is read, and the text moved out at its next write. A missing
// text object is a broken mirror.
func TestMirrorHeadStaysSmall(t *testing.T) {
	mt := newMirrorTest(t)
	m := mt.mirror(mt.journal(), "ann@h1 pid 1")
	big := []byte("steps: []\n# " + strings.Repeat("x", 200<<10) + "\n")
	r := journal.Run{ID: journal.NewRunID(time.Now()), Playbook: "p", PlaybookFile: "p.yaml", Source: big, User: "ann", Host: "h1", Started: time.Now().UTC()}
	if err := m.CreateRun(r); err != nil {
		t.Fatal(err)
	}
	cms := mt.env.Clientset.CoreV1().ConfigMaps(mt.ns)
	ctx := context.Background()
	for i := 0; i < 60; i++ {
		evidence := strings.Repeat("e", 200)
		if i == 30 {
			evidence = strings.Repeat("big", 4000) // past a chunk's budget: a chunk of its own
		}
		appendOK(t, m, r.ID, journal.Event{Type: "instance.started", Step: "s", Item: string(rune('a' + i%26)), Evidence: evidence})
		head, err := cms.Get(ctx, "cairn-run-"+r.ID, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, v := range head.Data {
			size += len(v)
		}
		if size > 4096+2048 || head.Data["source"] != "" {
			t.Fatalf("after %d events the head holds %d bytes (source %d): it grows with the run", i+1, size, len(head.Data["source"]))
		}
	}
	c, err := mt.store().Read(ctx, r.ID)
	if err != nil || c.Check("mirror", r.ID) != nil || string(c.Source) != string(big) {
		t.Fatalf("read back: source %d bytes, want %d; %v", len(c.Source), len(big), err)
	}

	// A part that lost its label is still found, by the name the head gives.
	chunks, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "cairn.dev/part=chunk," + cluster.MirrorRunLabel + "=" + r.ID})
	if err != nil || len(chunks.Items) == 0 {
		t.Fatalf("no chunks (%v)", err)
	}
	unlabelled := chunks.Items[0]
	delete(unlabelled.Labels, cluster.MirrorRunLabel)
	if _, err := cms.Update(ctx, &unlabelled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if c, err := mt.store().Read(ctx, r.ID); err != nil || c.Check("mirror", r.ID) != nil {
		t.Fatalf("a chunk without its label: %v", err)
	}
	defer func() {
		// Prune finds it too, and nothing it was not given.
		bystander, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bystander"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		head, err := cms.Get(ctx, "cairn-run-"+r.ID, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		head.Data["chunks"] += "\nbystander"
		if _, err := cms.Update(ctx, head, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := mt.store().Delete(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		all, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range all.Items {
			if strings.HasPrefix(cm.Name, "cairn-run-"+r.ID) {
				t.Errorf("prune left %s", cm.Name)
			}
		}
		if _, err := cms.Get(ctx, bystander.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("prune removed a configmap the head named but that is not the run's: %v", err)
		}
	}()

	// A head written with the text inline, as the mirror's first layout did.
	head, err := cms.Get(ctx, "cairn-run-"+r.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "cairn-run-"+r.ID+"-source", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mt.store().Read(ctx, r.ID); !errors.Is(err, journal.ErrTampered) || !strings.Contains(err.Error(), "-source is missing") {
		t.Fatalf("a head whose text is gone: %v", err)
	}
	delete(head.Data, "sourceRef")
	head.Data["source"] = string(big)
	if _, err := cms.Update(ctx, head, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if c, err := mt.store().Read(ctx, r.ID); err != nil || string(c.Source) != string(big) || c.Check("mirror", r.ID) != nil {
		t.Fatalf("inline text not read: %v", err)
	}
	m2 := mt.mirror(mt.journal(), "bob@h2 pid 2")
	other, _ := m2.Journal.(*journal.DB)
	if err := other.ImportChained(c); err != nil {
		t.Fatal(err)
	}
	appendOK(t, m2, r.ID, journal.Event{Type: "instance.started", Step: "t"})
	head, err = cms.Get(ctx, "cairn-run-"+r.ID, metav1.GetOptions{})
	if err != nil || head.Data["source"] != "" || head.Data["sourceRef"] == "" {
		t.Fatalf("the inline text was not moved out: %d bytes inline, ref %q (%v)", len(head.Data["source"]), head.Data["sourceRef"], err)
	}
	after, err := mt.store().Read(ctx, r.ID)
	if err != nil || string(after.Source) != string(big) {
		t.Fatalf("after the move: source %d bytes; %v", len(after.Source), err)
	}
	if err := after.Check("mirror", r.ID); err != nil {
		var seqs []uint64
		for _, e := range after.Events {
			seqs = append(seqs, e.Seq)
		}
		t.Fatalf("after the move: %v %v", err, seqs)
	}
}
