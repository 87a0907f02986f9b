package action

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/journal"
	"github.com/cairn-dev/cairn/steps/cluster"
	"github.com/cairn-dev/cairn/workflow"
)

// HeadMismatchError is a run whose local journal and journal mirror in the
// cluster are not the same history up to the mirror's head: the local one
// is behind it (truncated, restored from an old copy, or the run went on
// from another journal) or differs from it (forged, or extended on two
// machines). errors.Is(err, journal.ErrTampered) holds.
type HeadMismatchError struct {
	RunID, Namespace string
	Local, Mirror    journal.Head
	// Differs is the first seq at which the two differ; 0 when the local
	// journal is only behind (the mirror extends it).
	Differs uint64
}

func (e *HeadMismatchError) Error() string {
	heads := fmt.Sprintf("this journal's head is seq %d hash %.16s, the cluster's mirror's (configmap %s/cairn-run-%s) seq %d hash %.16s",
		e.Local.Seq, e.Local.Hash, e.Namespace, e.RunID, e.Mirror.Seq, e.Mirror.Hash)
	if e.Differs == 0 {
		return fmt.Sprintf("run %s: this journal lacks events %d to %d that the cluster's journal mirror has (truncated, restored from an older copy, or the run went on from another journal): %s; `cairn journal export --cluster %s` shows them",
			e.RunID, e.Local.Seq+1, e.Mirror.Seq, heads, e.RunID)
	}
	return fmt.Sprintf("run %s: this journal and the cluster's journal mirror differ from event %d on (one was forged, or the run was extended from two journals): %s; compare `cairn journal export %s` with `cairn journal export --cluster %s`",
		e.RunID, e.Differs, heads, e.RunID, e.RunID)
}

func (e *HeadMismatchError) Unwrap() error { return journal.ErrTampered }

// compareMirror checks a run of the local journal, which verifies, against
// its mirror in the cluster identified by target. It returns how they
// compare when that is no failure; a mirror whose chain does not hold or
// whose history is not the local one is an error wrapping
// journal.ErrTampered.
func (c *Config) compareMirror(ctx context.Context, db *journal.DB, store *cluster.MirrorStore, target map[string]string, id string) (string, error) {
	run, err := db.Run(id)
	if err != nil {
		return "", err
	}
	st, err := c.engine(db).Load(id)
	if err != nil {
		return "", err
	}
	switch {
	case len(run.Target) == 0:
		return "not bound to a cluster: no mirror", nil
	case st.NoMirror:
		return "run with --no-mirror: no mirror", nil
	}
	if d := workflow.TargetDiff(run.Target, target); d != "" {
		return fmt.Sprintf("recorded against another cluster than the kubeconfig reaches (%s): not compared", d), nil
	}
	chained, err := store.Read(ctx, id)
	if errors.Is(err, journal.ErrRunNotFound) {
		return fmt.Sprintf("not in the cluster's journal mirror (namespace %s): killed before its first mirror write, or pruned there", mirrorNamespace(store)), nil
	}
	if err != nil {
		return "", err
	}
	if err := chained.Check("cluster mirror", id); err != nil {
		return "", err
	}
	local, err := db.Events(id)
	if err != nil {
		return "", err
	}
	rec, err := journal.RecordJSON(run)
	if err != nil {
		return "", err
	}
	lh := journal.Head{Hash: journal.RootHash(rec)}
	if n := len(local); n > 0 {
		lh = journal.Head{Seq: local[n-1].Seq, Hash: local[n-1].Hash}
	}
	mismatch := &HeadMismatchError{RunID: id, Namespace: mirrorNamespace(store), Local: lh, Mirror: chained.Head}
	if string(chained.Record) != string(rec) {
		mismatch.Differs = 1
		return "", mismatch
	}
	for i := 0; i < len(local) && i < len(chained.Events); i++ {
		if local[i].Hash != chained.Events[i].Hash {
			mismatch.Differs = local[i].Seq
			return "", mismatch
		}
	}
	switch {
	case lh.Seq < chained.Head.Seq:
		return "", mismatch
	case lh.Seq > chained.Head.Seq:
		return fmt.Sprintf("the cluster's mirror is behind: events %d to %d are only in this journal (cairn stopped before writing them there); `cairn resume %s` from this journal writes them", chained.Head.Seq+1, lh.Seq, id), nil
	}
	return fmt.Sprintf("the same as the cluster's journal mirror (head seq %d hash %.16s)", lh.Seq, lh.Hash), nil
}

func mirrorNamespace(s *cluster.MirrorStore) string {
	if s.Namespace == "" {
		return cluster.DefaultLockNamespace
	}
	return s.Namespace
}
