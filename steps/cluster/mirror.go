package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/cairn-dev/cairn/journal"
)

// Journal is what the mirror wraps: the local journal, as the workflow
// engine uses it.
type Journal interface {
	CreateRun(r journal.Run) error
	Run(id string) (journal.Run, error)
	Append(runID string, e journal.Event) (journal.Event, error)
	Events(runID string) ([]journal.Event, error)
}

// Mirror is a journal that also keeps each run in its cluster (see
// MirrorStore). Every event is committed to the local journal first, then
// queued for the cluster; an event for which Sync says so (a step's
// started event, which carries the idempotency token) is not returned
// before it and everything queued before it are in the cluster, so a side
// effect never begins on a record that is only local. The rest is written
// at the next such event and at Flush. A write that fails for a transient
// reason is retried until ctx ends (AppendContext) or the store's timeout;
// an event that could not be written stays queued, and goes with the next
// write.
type Mirror struct {
	Journal Journal
	Store   *MirrorStore
	// Writer names this process on each head it writes (user@host pid),
	// for the message a process that loses a race gets.
	Writer string
	// Sync tells which events must be in the cluster before Append returns.
	Sync func(journal.Event) bool

	mu   sync.Mutex // one write to the cluster at a time
	runs map[string]*mirrorRun
}

// mirrorRun is what this process knows of one run's mirror.
type mirrorRun struct {
	st      *mirrorState
	pending []journal.Event // in the local journal, not yet in the cluster
}

var _ Journal = (*Mirror)(nil)

// CreateRun creates the run locally; its mirror is created with its first
// write.
func (m *Mirror) CreateRun(r journal.Run) error {
	if err := m.Journal.CreateRun(r); err != nil {
		return err
	}
	rec, err := journal.RecordJSON(r)
	if err != nil {
		return fmt.Errorf("journal mirror: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.set(r.ID, &mirrorRun{st: &mirrorState{record: rec, source: r.Source, head: journal.Head{Hash: journal.RootHash(rec)}}})
	return nil
}

func (m *Mirror) set(id string, mr *mirrorRun) {
	if m.runs == nil {
		m.runs = map[string]*mirrorRun{}
	}
	m.runs[id] = mr
}

func (m *Mirror) Run(id string) (journal.Run, error) { return m.Journal.Run(id) }

func (m *Mirror) Events(id string) ([]journal.Event, error) { return m.Journal.Events(id) }

// Append commits e locally and queues it for the cluster; if Sync says
// so, it writes it and everything queued before returning.
func (m *Mirror) Append(runID string, e journal.Event) (journal.Event, error) {
	return m.append(context.Background(), runID, e, false)
}

// AppendContext commits e locally and writes it and everything queued to
// the cluster before returning, whatever Sync says: the caller is about to
// act on it. ctx bounds the wait. The event is returned as stored even when
// the cluster write fails.
func (m *Mirror) AppendContext(ctx context.Context, runID string, e journal.Event) (journal.Event, error) {
	return m.append(ctx, runID, e, true)
}

func (m *Mirror) append(ctx context.Context, runID string, e journal.Event, flush bool) (journal.Event, error) {
	stored, err := m.Journal.Append(runID, e)
	if err != nil {
		return stored, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mr, err := m.attach(ctx, runID)
	if err != nil {
		return stored, err
	}
	// A run attached only now has found stored in the local journal already.
	if n := len(mr.pending); n == 0 || mr.pending[n-1].Seq < stored.Seq {
		mr.pending = append(mr.pending, stored)
	}
	if flush || (m.Sync != nil && m.Sync(stored)) {
		return stored, m.flush(ctx, runID, mr)
	}
	return stored, nil
}

// Attach reads the run's mirror, if it has one, and checks that it is the
// same history as the local journal up to its head: events the local
// journal has beyond it are queued. A mirror that is ahead of the local
// journal, or differs from it, is a *ConflictError: the run went on
// elsewhere. Appending attaches by itself; resume attaches first, to refuse
// before anything is done.
func (m *Mirror) Attach(ctx context.Context, runID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.attach(ctx, runID)
	return err
}

func (m *Mirror) attach(ctx context.Context, runID string) (*mirrorRun, error) {
	if mr, ok := m.runs[runID]; ok {
		return mr, nil
	}
	ctx, cancel := m.Store.bounded(ctx)
	defer cancel()
	st, err := m.Store.readHead(ctx, runID)
	if err != nil {
		return nil, err
	}
	r, err := m.Journal.Run(runID)
	if err != nil {
		return nil, err
	}
	rec, err := journal.RecordJSON(r)
	if err != nil {
		return nil, fmt.Errorf("journal mirror: %w", err)
	}
	local, err := m.Journal.Events(runID)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = &mirrorState{record: rec, source: r.Source, head: journal.Head{Hash: journal.RootHash(rec)}}
	}
	localHead := journal.Head{Hash: journal.RootHash(rec)}
	if n := len(local); n > 0 {
		localHead = journal.Head{Seq: local[n-1].Seq, Hash: local[n-1].Hash}
	}
	same := st.head.Seq <= uint64(len(local))
	if same && st.head.Seq == 0 {
		same = st.head.Hash == journal.RootHash(rec)
	} else if same {
		same = local[st.head.Seq-1].Hash == st.head.Hash
	}
	if !same {
		return nil, &ConflictError{RunID: runID, Namespace: m.Store.namespace(), Writer: st.writer, Mirror: st.head, Local: localHead, Read: true}
	}
	mr := &mirrorRun{st: st, pending: append([]journal.Event(nil), local[st.head.Seq:]...)}
	m.set(runID, mr)
	return mr, nil
}

// Pending is how many of a run's events, attached or appended, are in the
// local journal and not yet in the cluster.
func (m *Mirror) Pending(runID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mr, ok := m.runs[runID]; ok {
		return len(mr.pending)
	}
	return 0
}

// InCluster tells whether an attached run has a mirror in the cluster
// (as read or written by this process).
func (m *Mirror) InCluster(runID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mr, ok := m.runs[runID]
	return ok && mr.st.rv != ""
}

// Flush writes every queued event of every run to the cluster.
func (m *Mirror) Flush(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, mr := range m.runs {
		if err := m.flush(ctx, id, mr); err != nil {
			return err
		}
	}
	return nil
}

func (m *Mirror) flush(ctx context.Context, runID string, mr *mirrorRun) error {
	if len(mr.pending) == 0 {
		return nil
	}
	beforeMirrorWrite()
	ctx, cancel := m.Store.bounded(ctx)
	defer cancel()
	st, err := m.Store.commit(ctx, runID, mr.st, mr.pending, m.Writer)
	if err != nil {
		return err
	}
	mr.st, mr.pending = st, nil
	return nil
}
