//go:build integration

package kube_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/kube"
	"github.com/cairn-dev/cairn/steps/kubetest"
)

func TestScaleWaitAndResume(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	createDeployment(t, env, ns, "web", depOpts{})
	waitRolledOut(t, env, ns, "web")
	ex := executor(t, clusterFor(t, env, nil), "kube.scale")
	p := &kube.ScaleParams{Name: "web", Namespace: ns, Replicas: "3", Wait: true, Timeout: time.Minute}
	in := instance(t, p, token())

	if checkDone(t, ex, in) {
		t.Fatal("Check before Run says done")
	}
	res := runOK(t, ex, in)
	d := getDeployment(t, env, ns, "web")
	if !kubetest.RolloutComplete(d) || d.Status.AvailableReplicas != 3 {
		t.Fatalf("after scale with wait: status %+v, want 3 available", d.Status)
	}
	if res.Outputs["previous"] != "1" || !strings.Contains(res.Evidence, fmt.Sprintf("deployment %s/web: scaled from 1 to 3 replicas", ns)) {
		t.Errorf("outputs %v, evidence %q", res.Outputs, res.Evidence)
	}
	if !checkDone(t, ex, in) {
		t.Fatal("Check after Run says not done")
	}
	in.Attempt = 2
	again := runOK(t, ex, in)
	if got := getDeployment(t, env, ns, "web").Generation; got != d.Generation {
		t.Errorf("generation %d after a repeated Run, want %d", got, d.Generation)
	}
	if !strings.Contains(again.Evidence, "already at 3 replicas") {
		t.Errorf("repeated Run evidence = %q", again.Evidence)
	}

	// The undo a playbook writes: replicas: "${steps.ID.previous}".
	runOK(t, ex, instance(t, &kube.ScaleParams{Name: "web", Namespace: ns, Replicas: res.Outputs["previous"]}, token()))
	if got := *getDeployment(t, env, ns, "web").Spec.Replicas; got != 1 {
		t.Errorf("replicas after the undo = %d, want 1", got)
	}

	// Down to zero, by the kind's name as kubectl accepts it.
	runOK(t, ex, instance(t, &kube.ScaleParams{Kind: "deployments.apps", Name: "web", Namespace: ns, Replicas: "0", Wait: true}, token()))
	if d := getDeployment(t, env, ns, "web"); *d.Spec.Replicas != 0 || d.Status.Replicas != 0 {
		t.Errorf("after scaling to 0: spec %d, status %+v", *d.Spec.Replicas, d.Status)
	}
}

func TestScaleFailures(t *testing.T) {
	env := kubetest.New(t)
	ns := env.Namespace(t, nil)
	ex := executor(t, clusterFor(t, env, nil), "kube.scale")
	run := func(p *kube.ScaleParams) error {
		_, err := ex.Run(testCtx(t, time.Minute), instance(t, p, token()))
		t.Logf("error: %v", err)
		return err
	}
	wantPermanent(t, run(&kube.ScaleParams{Name: "missing", Namespace: ns, Replicas: "2"}), fmt.Sprintf("deployment %s/missing: not found", ns))

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}}
	if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPermanent(t, run(&kube.ScaleParams{Kind: "ConfigMap", Name: "cfg", Namespace: ns, Replicas: "2"}),
		fmt.Sprintf("configmap %s/cfg: ConfigMap has no scale subresource", ns))

	// A rollout that cannot progress fails the wait with the controller's
	// reason, after the scale itself took effect.
	createDeployment(t, env, ns, "stuck", depOpts{unschedulable: true, progressDeadline: 1, replicas: 1})
	wantPermanent(t, run(&kube.ScaleParams{Name: "stuck", Namespace: ns, Replicas: "2", Wait: true}),
		fmt.Sprintf("deployment %s/stuck: rollout not complete: ", ns), "ProgressDeadlineExceeded")
	if got := *getDeployment(t, env, ns, "stuck").Spec.Replicas; got != 2 {
		t.Errorf("stuck deployment: replicas %d, want 2", got)
	}
}
