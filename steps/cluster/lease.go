package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// Defaults of the in-cluster lock.
const (
	DefaultLockNamespace = "kube-system"
	DefaultLockName      = "cairn-lock"
	// HolderAnnotation holds the holder as JSON: holderIdentity alone is one
	// opaque string, and the refusal message needs user, host, run and since.
	HolderAnnotation = "cairn.dev/holder"
)

// Lock is the cluster-wide lock that keeps two cairn runs (other processes,
// other journals, other machines) from acting on one cluster at once. It is
// a coordination.k8s.io/v1 Lease: held while renewed, free to take over once
// its holder stopped renewing for longer than its duration. Every write is
// conditional on the resourceVersion read before it, so of two processes
// racing for a free or stale lease exactly one wins.
type Lock struct {
	Client    kubernetes.Interface
	Namespace string        // default DefaultLockNamespace
	Name      string        // default DefaultLockName
	Duration  time.Duration // leaseDurationSeconds; default 60s
	Renew     time.Duration // how often the holder renews; default 15s
	// Timeout bounds how long Acquire and Release retry transient errors;
	// default DefaultTimeout.
	Timeout time.Duration
	// Grace is added to Duration before a lease counts as stale, for clock
	// skew between machines and for the holder to notice it lost the lease
	// and stop; default 5s.
	Grace time.Duration
	Now   func() time.Time
	Log   zerolog.Logger
}

// Holder says who holds the lock, for the refusal message and the audit.
type Holder struct {
	User    string    `json:"user"`
	Host    string    `json:"host"`
	RunID   string    `json:"run"`
	Command string    `json:"command,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Since   time.Time `json:"since"`
	// Journal is the journal file the holder writes the run to. Two
	// processes of one run on one host can only both be alive with two
	// journals (a resume --from-cluster), so only a holder with the same
	// journal is known to be dead.
	Journal string `json:"journal,omitempty"`
}

// identity is the lease's holderIdentity: readable in `kubectl get lease`
// and unique per process, so a process can tell its own lease from another's.
func (h Holder) identity() string {
	return fmt.Sprintf("cairn %s %s@%s pid %d", h.RunID, h.User, h.Host, h.PID)
}

func (h Holder) String() string {
	s := fmt.Sprintf("run %s of %s@%s", h.RunID, h.User, h.Host)
	if h.Command != "" {
		s += " (cairn " + h.Command + ")"
	}
	if !h.Since.IsZero() {
		s += ", since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

// HeldError is returned by Acquire when another run holds the lock.
type HeldError struct {
	Namespace, Name string
	Holder          Holder // zero fields if the lease was not written by cairn
	Identity        string // the lease's holderIdentity
	Renewed         time.Time
	Stale           time.Time // when it may be taken over if not renewed

	resourceVersion string // of the lease as read, for AcquireWaiting
}

func (e *HeldError) Error() string {
	who := e.Identity
	if e.Holder.RunID != "" {
		who = e.Holder.String()
	}
	msg := fmt.Sprintf("another cairn run is using this cluster: lease %s/%s is held by %s", e.Namespace, e.Name, who)
	if !e.Renewed.IsZero() {
		msg += fmt.Sprintf(", last renewed %s", e.Renewed.UTC().Format(time.RFC3339))
	}
	return msg + fmt.Sprintf("; wait for it to finish or pause (if its process died, the lock can be taken over after %s)",
		e.Stale.UTC().Format(time.RFC3339))
}

func (l *Lock) leases() coordclient.LeaseInterface {
	return l.Client.CoordinationV1().Leases(l.namespace())
}

func (l *Lock) namespace() string { return or(l.Namespace, DefaultLockNamespace) }
func (l *Lock) name() string      { return or(l.Name, DefaultLockName) }
func (l *Lock) duration() time.Duration {
	return orDur(l.Duration, 60*time.Second)
}
func (l *Lock) renew() time.Duration   { return orDur(l.Renew, 15*time.Second) }
func (l *Lock) timeout() time.Duration { return orDur(l.Timeout, DefaultTimeout) }
func (l *Lock) grace() time.Duration   { return orDur(l.Grace, 5*time.Second) }

func (l *Lock) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Acquire takes the lock for h, or returns a *HeldError naming its holder.
// A lease that is free, stale, or left behind by an earlier process of the
// same run on the same host is taken over; TakenOver on the result then
// describes the previous holder, for the journal.
func (l *Lock) Acquire(ctx context.Context, h Holder) (*HeldLease, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	h.Since = h.Since.UTC()
	taken := ""
	for {
		var cur *coordv1.Lease
		err := Do(ctx, func(ctx context.Context) (err error) {
			cur, err = l.leases().Get(ctx, l.name(), metav1.GetOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			created, err := l.create(ctx, h)
			if apierrors.IsAlreadyExists(err) {
				continue // someone created it between our Get and Create
			}
			if err != nil {
				return nil, l.fail("create", err)
			}
			return l.start(created, h, ""), nil
		}
		if err != nil {
			return nil, l.fail("read", err)
		}
		t, ours, err := l.takeable(cur, h)
		if err != nil {
			return nil, err
		}
		if !ours {
			// Finding our own identity means an earlier Update of this loop
			// went through before its retry: what it took over still counts.
			taken = t
		}
		next := cur.DeepCopy()
		l.fill(next, h)
		if next.Spec.LeaseTransitions == nil {
			next.Spec.LeaseTransitions = new(int32)
		}
		*next.Spec.LeaseTransitions++
		var updated *coordv1.Lease
		err = Do(ctx, func(ctx context.Context) (err error) {
			updated, err = l.leases().Update(ctx, next, metav1.UpdateOptions{})
			return err
		})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			continue // it changed under us: look again, someone else may hold it now
		}
		if err != nil {
			return nil, l.fail("take over", err)
		}
		return l.start(updated, h, taken), nil
	}
}

// Live reads the lock: its holder, and whether it is held and renewed in
// time (not released, not stale). No lease is no holder.
func (l *Lock) Live(ctx context.Context) (Holder, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	var cur *coordv1.Lease
	err := Do(ctx, func(ctx context.Context) (err error) {
		cur, err = l.leases().Get(ctx, l.name(), metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return Holder{}, false, nil
	}
	if err != nil {
		return Holder{}, false, l.fail("read", err)
	}
	h, _ := holderOf(cur)
	held := cur.Spec.HolderIdentity != nil && *cur.Spec.HolderIdentity != ""
	renewed := renewedAt(cur)
	stale := renewed.Add(leaseDuration(cur, l.duration()) + l.grace())
	return h, held && !renewed.IsZero() && !l.now().After(stale), nil
}

// takeable decides whether cur may be taken for h, and if it was held by
// someone else, describes that holder for the journal.
func (l *Lock) takeable(cur *coordv1.Lease, h Holder) (taken string, ours bool, err error) {
	id := ""
	if cur.Spec.HolderIdentity != nil {
		id = *cur.Spec.HolderIdentity
	}
	if id == "" {
		return "", false, nil // released
	}
	if id == h.identity() {
		return "", true, nil
	}
	prev, ok := holderOf(cur)
	renewed := renewedAt(cur)
	stale := renewed.Add(leaseDuration(cur, l.duration()) + l.grace())
	who := id
	if ok {
		who = prev.String()
	}
	switch {
	case ok && prev.RunID == h.RunID && prev.Host == h.Host && prev.Journal == h.Journal:
		// The journal lock guarantees that no other process of this host
		// works on this run, so the holder is a process that died.
		return fmt.Sprintf("%s, last renewed %s, left behind by a process of this run that stopped without releasing it",
			who, fmtTime(renewed)), false, nil
	case renewed.IsZero() || l.now().After(stale):
		return fmt.Sprintf("%s, last renewed %s, stale since %s", who, fmtTime(renewed), fmtTime(stale)), false, nil
	}
	return "", false, &HeldError{Namespace: l.namespace(), Name: l.name(), Holder: prev, Identity: id, Renewed: renewed, Stale: stale, resourceVersion: cur.ResourceVersion}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func renewedAt(le *coordv1.Lease) time.Time {
	switch {
	case le.Spec.RenewTime != nil:
		return le.Spec.RenewTime.Time
	case le.Spec.AcquireTime != nil:
		return le.Spec.AcquireTime.Time
	}
	return time.Time{}
}

func leaseDuration(le *coordv1.Lease, def time.Duration) time.Duration {
	if le.Spec.LeaseDurationSeconds != nil && *le.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(*le.Spec.LeaseDurationSeconds) * time.Second
	}
	return def
}

func holderOf(le *coordv1.Lease) (Holder, bool) {
	var h Holder
	raw, ok := le.Annotations[HolderAnnotation]
	if !ok || json.Unmarshal([]byte(raw), &h) != nil || h.RunID == "" {
		return Holder{}, false
	}
	return h, true
}

func (l *Lock) create(ctx context.Context, h Holder) (*coordv1.Lease, error) {
	le := &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: l.name(), Namespace: l.namespace(),
		Labels: map[string]string{"app.kubernetes.io/managed-by": "cairn"}}}
	l.fill(le, h)
	var out *coordv1.Lease
	err := Do(ctx, func(ctx context.Context) (err error) {
		out, err = l.leases().Create(ctx, le, metav1.CreateOptions{})
		return err
	})
	if err != nil && out == nil && apierrors.IsAlreadyExists(err) {
		// A retried Create whose first try went through finds its own lease.
		if got, gerr := l.leases().Get(ctx, l.name(), metav1.GetOptions{}); gerr == nil &&
			got.Spec.HolderIdentity != nil && *got.Spec.HolderIdentity == h.identity() {
			return got, nil
		}
	}
	return out, err
}

// fill makes le held by h, acquired and renewed now.
func (l *Lock) fill(le *coordv1.Lease, h Holder) {
	raw, _ := json.Marshal(h)
	if le.Annotations == nil {
		le.Annotations = map[string]string{}
	}
	le.Annotations[HolderAnnotation] = string(raw)
	id := h.identity()
	secs := int32(l.duration() / time.Second)
	now := metav1.NewMicroTime(l.now())
	le.Spec.HolderIdentity = &id
	le.Spec.LeaseDurationSeconds = &secs
	le.Spec.AcquireTime = &now
	le.Spec.RenewTime = &now
}

// fail explains a failure to use the lease other than its being held.
func (l *Lock) fail(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case apierrors.IsForbidden(err), apierrors.IsNotFound(err) && op == "create":
		return &LockAccessError{Namespace: l.namespace(), Name: l.name(), Op: op, Err: err}
	}
	return fmt.Errorf("cluster lock: cannot %s lease %s/%s: %w", op, l.namespace(), l.name(), err)
}

// LockAccessError is a lock that cairn may not use where it is: the
// namespace is missing, or the Lease there may not be read or written.
type LockAccessError struct {
	Namespace, Name, Op string
	Err                 error
}

func (e *LockAccessError) Error() string {
	if apierrors.IsNotFound(e.Err) {
		return fmt.Sprintf("cluster lock: namespace %s does not exist: %v", e.Namespace, e.Err)
	}
	return fmt.Sprintf("cluster lock: cannot %s lease %s/%s: %v; it needs get, create, update and delete on leases.coordination.k8s.io there", e.Op, e.Namespace, e.Name, e.Err)
}

func (e *LockAccessError) Unwrap() error { return e.Err }
