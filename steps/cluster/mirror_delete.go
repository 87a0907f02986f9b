package cluster

import (
	"context"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Delete removes a run's mirror: its head first, so that no reader finds a
// head whose chunks are gone, then its chunks. It needs delete on
// configmaps in the namespace. A run without a mirror is no error.
func (s *MirrorStore) Delete(ctx context.Context, runID string) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	var list *corev1.ConfigMapList
	err := Do(ctx, func(ctx context.Context) (err error) {
		list, err = s.cms().List(ctx, metav1.ListOptions{LabelSelector: MirrorRunLabel + "=" + runID})
		return err
	})
	if err != nil {
		return s.accessError("list", runID, err)
	}
	names := make([]string, 0, len(list.Items))
	listed := map[string]bool{}
	for _, cm := range list.Items {
		names = append(names, cm.Name)
		listed[cm.Name] = true
	}
	for i := range list.Items {
		if list.Items[i].Name != headName(runID) {
			continue
		}
		// Parts that lost their label go too: the head names them.
		if st, err := parseHead(&list.Items[i]); err == nil {
			for _, p := range append([]string{st.sourceRef}, st.chunks...) {
				// Only its own: a head may be edited to name anything.
				if strings.HasPrefix(p, headName(runID)+"-") && !listed[p] {
					names = append(names, p)
					listed[p] = true
				}
			}
		}
	}
	head := headName(runID)
	sort.Slice(names, func(i, j int) bool { return names[i] == head && names[j] != head })
	for _, name := range names {
		err := Do(ctx, func(ctx context.Context) error {
			return s.cms().Delete(ctx, name, metav1.DeleteOptions{})
		})
		if err != nil && !apierrors.IsNotFound(err) {
			if apierrors.IsForbidden(err) {
				return &MirrorError{Msg: "journal mirror of run " + runID + ": cannot delete configmaps in namespace " + s.namespace() + " (runs prune --cluster needs delete on configmaps there)", Err: err}
			}
			return s.accessError("delete", runID, err)
		}
	}
	return nil
}
