package kube

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// podProblem says what is wrong with a pod, or "" if nothing is. Without
// strict, only readiness counts (podsReady); with it, also what `kubectl get
// pod` shows as CrashLoopBackOff, Error or Terminating (noBadPods), since a
// pod can still be Ready while it is being deleted. Succeeded pods are
// never a problem: a completed Job's pod is not Ready and is not meant to
// be.
func podProblem(u *unstructured.Unstructured, strict bool) string {
	var pod corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pod); err != nil {
		return "unreadable pod: " + err.Error()
	}
	if pod.Status.Phase == corev1.PodSucceeded {
		return ""
	}
	var why []string
	if strict && pod.DeletionTimestamp != nil {
		why = append(why, "Terminating")
	}
	if pod.Status.Phase == corev1.PodFailed {
		why = append(why, objJoinNonEmpty(": ", "Failed", pod.Status.Reason))
	}
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			why = append(why, fmt.Sprintf("%s (%s)", w.Reason, cs.Name))
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			reason := t.Reason
			if reason == "" {
				reason = "Error"
			}
			why = append(why, fmt.Sprintf("%s (%s exited %d)", reason, cs.Name, t.ExitCode))
		}
	}
	ready, readiness := podReadiness(&pod)
	if !strict && ready {
		return ""
	}
	if !ready {
		why = append(why, readiness)
	}
	return strings.Join(why, ", ")
}

// podReadiness reads the Ready condition and, when it is missing, says why
// the pod has none yet (unscheduled, gated...).
func podReadiness(pod *corev1.Pod) (bool, string) {
	var scheduled *corev1.PodCondition
	for i, c := range pod.Status.Conditions {
		switch c.Type {
		case corev1.PodReady:
			if c.Status == corev1.ConditionTrue {
				return true, ""
			}
			return false, objJoinNonEmpty(": ", "Ready="+string(c.Status), c.Reason)
		case corev1.PodScheduled:
			scheduled = &pod.Status.Conditions[i]
		}
	}
	phase := string(pod.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	s := phase + ", no Ready condition"
	if scheduled != nil && scheduled.Status != corev1.ConditionTrue {
		s += ", " + objJoinNonEmpty(": ", "PodScheduled="+string(scheduled.Status), scheduled.Reason)
	}
	return false, s
}

func objJoinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// imageMismatch checks every container named name, in the pod spec of a
// Pod or the pod template of a workload: what a pod will run, not what
// status reports it ran (kubelets report resolved digests there). Init
// containers count too, since native sidecars (istio-proxy as a restartable
// init container) live there. An object without such a container is a
// mismatch: a pod without its sidecar is exactly what the check is for.
func imageMismatch(u *unstructured.Unstructured, name, tag string) string {
	spec, ok := podSpecOf(u)
	if !ok {
		return "no pod spec or pod template"
	}
	var seen, bad []string
	for _, key := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(spec, key)
		for _, raw := range list {
			c, _ := raw.(map[string]any)
			if c == nil || c["name"] != name {
				continue
			}
			image, _ := c["image"].(string)
			seen = append(seen, image)
			if !ParseImage(image).MatchesTag(tag) {
				bad = append(bad, image)
			}
		}
	}
	switch {
	case len(seen) == 0:
		return "no container " + name
	case len(bad) > 0:
		return strings.Join(bad, ", ")
	}
	return ""
}

// imageMatch returns the images of the containers named name that run tag
// ("" when none does, or the object has no such container).
func imageMatch(u *unstructured.Unstructured, name, tag string) string {
	spec, ok := podSpecOf(u)
	if !ok {
		return ""
	}
	var hit []string
	for _, key := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(spec, key)
		for _, raw := range list {
			c, _ := raw.(map[string]any)
			if c == nil || c["name"] != name {
				continue
			}
			if image, _ := c["image"].(string); ParseImage(image).MatchesTag(tag) {
				hit = append(hit, image)
			}
		}
	}
	return strings.Join(hit, ", ")
}

// podSpecOf finds the pod spec: a Pod's own, a workload's template, or a
// CronJob's job template.
func podSpecOf(u *unstructured.Unstructured) (map[string]any, bool) {
	paths := [][]string{{"spec", "template", "spec"}, {"spec", "jobTemplate", "spec", "template", "spec"}}
	if u.GetKind() == "Pod" {
		paths = [][]string{{"spec"}}
	}
	for _, p := range paths {
		if m, ok, _ := unstructured.NestedMap(u.Object, p...); ok {
			return m, true
		}
	}
	return nil, false
}
