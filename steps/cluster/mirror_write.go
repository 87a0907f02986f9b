package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/journal"
)

// commit writes events (already in the local journal, in order, following
// st's head) to the run's mirror and returns the mirror as now written.
// The head is created, or updated on the condition that it is still what
// st read; the oldest events are first sealed into chunks if the head
// would grow past its budget. A head another process wrote in between is a
// *ConflictError, and nothing of this process's is referenced from it.
func (s *MirrorStore) commit(ctx context.Context, runID string, st *mirrorState, add []journal.Event, writer string) (*mirrorState, error) {
	next := *st
	next.tail = append([]tailLine(nil), st.tail...)
	next.chunks = append([]string(nil), st.chunks...)
	next.writer = writer
	for _, e := range add {
		raw, err := journal.EventJSON(e)
		if err != nil {
			return nil, fmt.Errorf("journal mirror of run %s: event %d: %w", runID, e.Seq, err)
		}
		next.tail = append(next.tail, tailLine{raw: raw, seq: e.Seq, hash: e.Hash})
		next.head, next.last = journal.Head{Seq: e.Seq, Hash: e.Hash}, e
	}
	if next.sourceRef == "" {
		if err := s.writeSource(ctx, runID, next.source); err != nil {
			return nil, err
		}
		next.source, next.sourceRef = nil, sourceName(runID)
	}
	if err := s.seal(ctx, runID, &next); err != nil {
		return nil, err
	}
	cm := headObject(s.namespace(), runID, &next)
	var written *corev1.ConfigMap
	err := Do(ctx, func(ctx context.Context) (err error) {
		if st.rv == "" {
			written, err = s.cms().Create(ctx, cm, metav1.CreateOptions{})
		} else {
			cm.ResourceVersion = st.rv
			written, err = s.cms().Update(ctx, cm, metav1.UpdateOptions{})
		}
		return err
	})
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		// A retried write whose first try went through finds its own head.
		cur, rerr := s.readHead(ctx, runID)
		if rerr != nil {
			return nil, rerr
		}
		if cur != nil && cur.head == next.head && cur.writer == writer {
			return cur, nil
		}
		ce := &ConflictError{RunID: runID, Namespace: s.namespace(), Local: st.head}
		if cur != nil {
			ce.Writer, ce.Mirror = cur.writer, cur.head
		}
		return nil, ce
	}
	if err != nil {
		return nil, s.accessError("write", runID, err)
	}
	next.rv = written.ResourceVersion
	return &next, nil
}

// writeSource puts the playbook text in its own object, once: the head,
// rewritten at every write, only names it. Creating it again is a no-op;
// the text is the run's, and its hash is in the run record.
func (s *MirrorStore) writeSource(ctx context.Context, runID string, source []byte) error {
	if len(source) > maxObjectData {
		return fmt.Errorf("journal mirror of run %s: the playbook text (%d bytes) does not fit in a ConfigMap (at most %d); run it with --no-mirror", runID, len(source), maxObjectData)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: sourceName(runID), Namespace: s.namespace(), Labels: mirrorLabels(runID, "source")},
	}
	if utf8.Valid(source) {
		cm.Data = map[string]string{keySource: string(source)}
	} else {
		cm.BinaryData = map[string][]byte{keySource: source}
	}
	err := Do(ctx, func(ctx context.Context) error {
		_, err := s.cms().Create(ctx, cm, metav1.CreateOptions{})
		return err
	})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return s.accessError("create", runID, err)
	}
	return nil
}

// seal moves the oldest events of a head whose events outgrow its budget
// into chunks. A chunk is named after its last event, so a chunk of that
// name holds exactly these events: creating it again is a no-op.
func (s *MirrorStore) seal(ctx context.Context, runID string, st *mirrorState) error {
	headBudget, chunkBudget := s.HeadBudget, s.ChunkBudget
	if headBudget <= 0 {
		headBudget = defaultHeadBudget
	}
	if chunkBudget <= 0 {
		chunkBudget = defaultChunkBudget
	}
	fixed := len(st.record) + 1024
	for _, c := range st.chunks {
		fixed += len(c) + 1
	}
	if fixed > maxObjectData-headBudget {
		return fmt.Errorf("journal mirror of run %s: the run record and the list of chunks (%d bytes) do not fit in a ConfigMap; run it with --no-mirror", runID, fixed)
	}
	size := 0
	for _, l := range st.tail {
		size += len(l.raw) + 1
	}
	for size > headBudget {
		n, csize := 0, 0
		for n < len(st.tail) && (n == 0 || csize+len(st.tail[n].raw)+1 <= chunkBudget) {
			csize += len(st.tail[n].raw) + 1
			n++
		}
		// An event larger than a chunk's budget gets a chunk of its own, up
		// to what a ConfigMap holds.
		if csize > maxObjectData {
			return fmt.Errorf("journal mirror of run %s: event %d (%d bytes) does not fit in a ConfigMap; run it with --no-mirror", runID, st.tail[0].seq, csize)
		}
		var b strings.Builder
		for _, l := range st.tail[:n] {
			b.Write(l.raw)
			b.WriteByte('\n')
		}
		name := chunkName(runID, st.tail[n-1])
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace(), Labels: mirrorLabels(runID, "chunk")},
			Data:       map[string]string{keyEvents: b.String()},
		}
		err := Do(ctx, func(ctx context.Context) error {
			_, err := s.cms().Create(ctx, cm, metav1.CreateOptions{})
			return err
		})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return s.accessError("create", runID, err)
		}
		st.chunks = append(st.chunks, name)
		st.tail = st.tail[n:]
		size -= csize
	}
	return nil
}

func mirrorLabels(runID, part string) map[string]string {
	return map[string]string{MirrorRunLabel: runID, MirrorPartLabel: part, "app.kubernetes.io/managed-by": "cairn"}
}

func headObject(ns, runID string, st *mirrorState) *corev1.ConfigMap {
	head, _ := json.Marshal(st.head)
	var events strings.Builder
	for _, l := range st.tail {
		events.Write(l.raw)
		events.WriteByte('\n')
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: headName(runID), Namespace: ns, Labels: mirrorLabels(runID, "head"),
			Annotations: map[string]string{MirrorWriterAnnotation: st.writer}},
		Data: map[string]string{keyRecord: string(st.record), keyHead: string(head), keyEvents: events.String(),
			keyChunks: strings.Join(st.chunks, "\n"), keySourceRef: st.sourceRef},
	}
	return cm
}
