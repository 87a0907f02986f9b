//go:build integration

package kube_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

// With wait, a restart is done only once it has rolled out: a restart
// stuck behind a quota fails at its timeout and its check says not done;
// once the quota is gone the same instance finishes without a second
// restart, and the rollout is complete when Run returns.
func TestRolloutRestartWaitsForTheRollout(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "web", depOpts{replicas: 2})
	before := len(replicaSetsOf(t, env, waitRolledOut(t, env, ns, "web")))

	quotas := env.Clientset.CoreV1().ResourceQuotas(ns)
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-more-pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}}}
	if _, err := quotas.Create(testCtx(t, time.Minute), q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		got, err := quotas.Get(testCtx(t, time.Minute), q.Name, metav1.GetOptions{})
		if err == nil && got.Status.Used != nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("quota never counted: %v", err)
		}
	}

	ex := executor(t, clusterFor(t, env, nil), "kube.rolloutRestart")
	p := &kube.RestartParams{Selection: kube.Selection{Names: []string{"web"}, Namespace: ns}, Wait: true, Timeout: 3 * time.Second}
	tok := token()
	in := instance(t, p, tok)
	if res, err := ex.Run(testCtx(t, time.Minute), in); err == nil {
		t.Fatalf("a restart that cannot roll out succeeded:\n%s", res.Evidence)
	}
	if checkDone(t, ex, in) {
		t.Fatal("Check says done for a restart that has not rolled out")
	}

	if err := quotas.Delete(testCtx(t, time.Minute), q.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Timeout = 2 * time.Minute
	in.Attempt = 2
	runOK(t, ex, in)
	d := getDeployment(t, env, ns, "web")
	if d.Status.ObservedGeneration != d.Generation || d.Status.UpdatedReplicas != 2 || d.Status.AvailableReplicas != 2 || d.Status.Replicas != 2 {
		t.Errorf("Run returned before the rollout finished: %+v", d.Status)
	}
	if !checkDone(t, ex, in) {
		t.Error("Check says not done after the rollout")
	}
	if got := len(replicaSetsOf(t, env, d)); got != before+1 {
		t.Errorf("%d ReplicaSets, want %d (one restart)", got, before+1)
	}
}
