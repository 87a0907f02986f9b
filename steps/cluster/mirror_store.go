package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/cairn-dev/cairn/journal"
)

// The journal mirror: each run bound to a cluster is also kept in that
// cluster, in the lock namespace, as ConfigMaps labelled with the run id:
//
//	cairn-run-ID            the head: data.record (the run record's JSON as
//	                        hashed), data.sourceRef (the name of the source
//	                        object), data.events (the newest events, one JSON
//	                        line each, with prev and hash), data.head
//	                        ({"seq", "hash"} of the last one), data.chunks
//	                        (the names of the sealed chunks, oldest first)
//	cairn-run-ID-source     the playbook text, data.source (binaryData when
//	                        it is not UTF-8); written once, before the head
//	cairn-run-ID-SEQ-HASH   a sealed chunk: data.events, older events; named
//	                        after its last event, so it is never rewritten
//
// The head is rewritten at every write, so it is kept small: the playbook
// text lives apart, and past HeadBudget the head's events are sealed into a
// chunk. A write then costs about the same at the thousandth step as at
// the first, and etcd keeps no stream of large revisions. (A head may also
// hold the text inline as data.source: it is read, and moved out at the
// next write.)
//
// Every write of the head is conditional on the resourceVersion read before
// it, so of two processes extending one run only one gets through. Events
// reach the head already redacted: they are the journal's stored events.
const (
	MirrorRunLabel  = "cairn.dev/run"
	MirrorPartLabel = "cairn.dev/part" // head or chunk
	// MirrorWriterAnnotation names the process that last wrote the head.
	MirrorWriterAnnotation = "cairn.dev/writer"

	mirrorPrefix = "cairn-run-"
	keyRecord    = "record"
	keySource    = "source"
	keySourceRef = "sourceRef"
	keyEvents    = "events"
	keyHead      = "head"
	keyChunks    = "chunks"

	// defaultHeadBudget bounds the events a head holds, which every write
	// sends again; past it, the oldest are sealed into chunks of at most
	// defaultChunkBudget.
	defaultHeadBudget  = 64 << 10
	defaultChunkBudget = 64 << 10
	// maxObjectData is what one ConfigMap's data may hold: 1 MiB, less room
	// for its metadata.
	maxObjectData = 1<<20 - 8<<10
)

// MirrorStore reads and writes the journal mirrors in one namespace. It
// needs get, list and create on configmaps there, and update for the heads.
type MirrorStore struct {
	Client    kubernetes.Interface
	Namespace string        // default DefaultLockNamespace
	Timeout   time.Duration // retries of transient errors when ctx has no deadline; default DefaultTimeout
	// HeadBudget bounds the bytes of the events a head holds, ChunkBudget
	// those of a chunk; 0 means 64 KiB each.
	HeadBudget, ChunkBudget int
}

func (s *MirrorStore) namespace() string { return or(s.Namespace, DefaultLockNamespace) }

func (s *MirrorStore) cms() coreclient.ConfigMapInterface {
	return s.Client.CoreV1().ConfigMaps(s.namespace())
}

// bounded gives ctx the store's timeout unless it has a deadline already.
func (s *MirrorStore) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, orDur(s.Timeout, DefaultTimeout))
}

func headName(runID string) string { return mirrorPrefix + runID }

func sourceName(runID string) string { return mirrorPrefix + runID + "-source" }

func chunkName(runID string, last tailLine) string {
	return fmt.Sprintf("%s%s-%d-%.12s", mirrorPrefix, runID, last.seq, last.hash)
}

// mirrorState is a run's mirror as last read or written by this process.
type mirrorState struct {
	rv     string // the head's resourceVersion; "" while it does not exist
	record []byte
	// source is the playbook text while it is not yet in its own object;
	// sourceRef names that object once it is.
	source    []byte
	sourceRef string
	chunks    []string
	tail      []tailLine // the head's events
	head      journal.Head
	writer    string
	last      journal.Event // the newest event, if any
}

// readHead reads a run's head; nil if the run has none.
func (s *MirrorStore) readHead(ctx context.Context, runID string) (*mirrorState, error) {
	var cm *corev1.ConfigMap
	err := Do(ctx, func(ctx context.Context) (err error) {
		cm, err = s.cms().Get(ctx, headName(runID), metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, s.accessError("read", runID, err)
	}
	return parseHead(cm)
}

func parseHead(cm *corev1.ConfigMap) (*mirrorState, error) {
	st := &mirrorState{rv: cm.ResourceVersion, record: []byte(cm.Data[keyRecord]), writer: cm.Annotations[MirrorWriterAnnotation],
		source: sourceOf(cm), sourceRef: cm.Data[keySourceRef]}
	if err := json.Unmarshal([]byte(cm.Data[keyHead]), &st.head); err != nil {
		return nil, fmt.Errorf("journal mirror %s/%s: head unreadable (%v): %w", cm.Namespace, cm.Name, err, journal.ErrTampered)
	}
	if c := strings.TrimSpace(cm.Data[keyChunks]); c != "" {
		st.chunks = strings.Split(c, "\n")
	}
	for _, l := range bytes.Split([]byte(cm.Data[keyEvents]), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		evs, err := journal.ParseEventLines(l)
		if err != nil || len(evs) != 1 {
			return nil, fmt.Errorf("journal mirror %s/%s: an event is unreadable: %w", cm.Namespace, cm.Name, journal.ErrTampered)
		}
		st.tail = append(st.tail, tailLine{raw: l, seq: evs[0].Seq, hash: evs[0].Hash})
		st.last = evs[0]
	}
	return st, nil
}

// tailLine is one event in a head: its JSON line, seq and hash.
type tailLine struct {
	raw  []byte
	seq  uint64
	hash string
}

// Read returns a run's mirror in its portable form, unchecked (Chained.Check
// says whether it holds); journal.ErrRunNotFound if the cluster has none.
func (s *MirrorStore) Read(ctx context.Context, runID string) (journal.Chained, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	// One list reads the head and its parts as of one moment, in one round
	// trip however many chunks a long run has.
	var list *corev1.ConfigMapList
	err := Do(ctx, func(ctx context.Context) (err error) {
		list, err = s.cms().List(ctx, metav1.ListOptions{LabelSelector: MirrorRunLabel + "=" + runID})
		return err
	})
	if err != nil {
		return journal.Chained{}, s.accessError("list", runID, err)
	}
	parts := make(map[string]*corev1.ConfigMap, len(list.Items))
	for i := range list.Items {
		parts[list.Items[i].Name] = &list.Items[i]
	}
	head, ok := parts[headName(runID)]
	if !ok {
		return journal.Chained{}, fmt.Errorf("run %s in the cluster (namespace %s): %w", runID, s.namespace(), journal.ErrRunNotFound)
	}
	st, err := parseHead(head)
	if err != nil {
		return journal.Chained{}, err
	}
	// A part that lost its label is read by name.
	part := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := parts[name]; ok {
			return cm, nil
		}
		return s.readPart(ctx, runID, name)
	}
	c := journal.Chained{Record: st.record, Source: st.source, Head: st.head}
	if st.sourceRef != "" {
		cm, err := part(st.sourceRef)
		if err != nil {
			return c, err
		}
		c.Source = sourceOf(cm)
	}
	var lines []byte
	for _, name := range st.chunks {
		cm, err := part(name)
		if err != nil {
			return c, err
		}
		lines = append(append(lines, cm.Data[keyEvents]...), '\n')
	}
	for _, l := range st.tail {
		lines = append(append(lines, l.raw...), '\n')
	}
	if c.Events, err = journal.ParseEventLines(lines); err != nil {
		return c, fmt.Errorf("journal mirror of run %s: %w", runID, err)
	}
	return c, nil
}

// readPart reads one of the objects a run's head names; a missing one is
// a broken mirror.
func (s *MirrorStore) readPart(ctx context.Context, runID, name string) (*corev1.ConfigMap, error) {
	var cm *corev1.ConfigMap
	err := Do(ctx, func(ctx context.Context) (err error) {
		cm, err = s.cms().Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("journal mirror of run %s: configmap %s is missing: %w", runID, name, journal.ErrTampered)
	}
	if err != nil {
		return nil, s.accessError("read", runID, err)
	}
	return cm, nil
}

func sourceOf(cm *corev1.ConfigMap) []byte {
	if src, ok := cm.Data[keySource]; ok && src != "" {
		return []byte(src)
	}
	return cm.BinaryData[keySource]
}

// MirroredRun is a run as listed from the cluster.
type MirroredRun struct {
	journal.RunSummary
	Writer string // who last wrote it
}

// List returns the runs mirrored in the namespace, newest first.
func (s *MirrorStore) List(ctx context.Context) ([]MirroredRun, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	var list *corev1.ConfigMapList
	err := Do(ctx, func(ctx context.Context) (err error) {
		list, err = s.cms().List(ctx, metav1.ListOptions{LabelSelector: MirrorPartLabel + "=head"})
		return err
	})
	if err != nil {
		return nil, s.accessError("list", "", err)
	}
	out := make([]MirroredRun, 0, len(list.Items))
	for i := range list.Items {
		cm := &list.Items[i]
		id := cm.Labels[MirrorRunLabel]
		m := MirroredRun{RunSummary: journal.RunSummary{Run: journal.Run{ID: id}}}
		st, err := parseHead(cm)
		if err == nil {
			m.Writer = st.writer
			var r journal.Run
			if r, err = (journal.Chained{Record: st.record}).Run(); err == nil {
				m.Run = r
				m.Run.ID = id
				m.Last, m.Events = st.last, st.head.Seq
			}
		}
		m.Err = err
		out = append(out, m)
	}
	// Run ids start with their time: newest first is descending order.
	sort.Slice(out, func(i, j int) bool { return out[i].Run.ID > out[j].Run.ID })
	return out, nil
}

// accessError explains a failure to use the mirror, naming the RBAC it
// needs when that is the cause.
func (s *MirrorStore) accessError(op, runID string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	what := "journal mirror"
	if runID != "" {
		what += " of run " + runID
	}
	msg := fmt.Sprintf("%s: cannot %s configmaps in namespace %s", what, op, s.namespace())
	if apierrors.IsForbidden(err) {
		msg += " (it needs get, list, create and update on configmaps there; or run with --no-mirror)"
	}
	return &MirrorError{Msg: msg, Err: err}
}

// MirrorError is a mirror that cannot be reached or written.
type MirrorError struct {
	Msg string
	Err error
}

func (e *MirrorError) Error() string { return e.Msg + ": " + e.Err.Error() }
func (e *MirrorError) Unwrap() error { return e.Err }

// ConflictError is a mirror that another process extended since this one
// read it, or that is ahead of or differs from this process's journal: the
// run went on elsewhere, and this process must not add to it.
type ConflictError struct {
	RunID, Namespace string
	Writer           string       // who wrote the mirror's head
	Mirror, Local    journal.Head // the mirror's head and this process's
	Read             bool         // found when reading (resume), not when writing
}

func (e *ConflictError) Error() string {
	who := e.Writer
	if who == "" {
		who = "another cairn"
	}
	if e.Read {
		return fmt.Sprintf("run %s went on without this journal: its mirror in the cluster (configmap %s/%s, last written by %s) is at seq %d, this journal at seq %d and not the same history; continue it where it went on, or with `cairn resume --from-cluster %s --journal NEW-FILE`",
			e.RunID, e.Namespace, headName(e.RunID), who, e.Mirror.Seq, e.Local.Seq, e.RunID)
	}
	return fmt.Sprintf("run %s was extended by %s in the cluster's journal mirror (configmap %s/%s now at seq %d) while this process was at seq %d: another cairn is continuing this run, so this one stops without writing more",
		e.RunID, who, e.Namespace, headName(e.RunID), e.Mirror.Seq, e.Local.Seq)
}
