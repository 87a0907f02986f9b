//go:build integration

package main

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/steps/cluster"
)

// clusterSurfaces returns the text the run left in its lock namespace:
// each data and binaryData value, label and annotation of every ConfigMap
// (the journal mirror's, labelled by the run, among them), and each Lease
// as JSON.
func (k *kubeRun) clusterSurfaces() map[string]string {
	k.t.Helper()
	ctx := context.Background()
	cms, err := k.env.Clientset.CoreV1().ConfigMaps(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	out := map[string]string{}
	mirrored, data := 0, ""
	for _, cm := range cms.Items {
		if cm.Labels[cluster.MirrorRunLabel] != "" {
			mirrored++
		}
		for key, v := range cm.Data {
			out["configmap "+cm.Name+" data."+key] = v
			data += v
		}
		for key, v := range cm.BinaryData {
			out["configmap "+cm.Name+" binaryData."+key] = string(v)
		}
		for key, v := range cm.Labels {
			out["configmap "+cm.Name+" label "+key] = key + "=" + v
		}
		for key, v := range cm.Annotations {
			out["configmap "+cm.Name+" annotation "+key] = key + "=" + v
		}
	}
	if mirrored == 0 || !showsRedacted(data) {
		k.t.Fatalf("%d mirror configmaps in %s, and no <redacted> in the configmaps' data (a vacuous test?)", mirrored, k.ns)
	}
	leases, err := k.env.Clientset.CoordinationV1().Leases(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	for _, le := range leases.Items {
		b, _ := json.Marshal(le)
		out["lease "+le.Name] = string(b)
	}
	return out
}

// D2 for a run bound to the cluster, and so mirrored there: the same
// secrets through the same surfaces as TestSecretOnEverySurface, plus
// runs, show, journal export and journal verify reading the mirror
// (--cluster), and what the run left in its lock namespace: the mirror's
// ConfigMaps and the Lease.
func TestSecretOnEverySurfaceMirrored(t *testing.T) {
	for _, s := range nastySecrets() {
		for _, fail := range []string{"exec", "assert"} {
			t.Run(s.name+"/"+fail, func(t *testing.T) {
				k := newKubeRun(t)
				out := surfaces(t, s.value, fail, "--kubeconfig", k.env.Kubeconfig, "--lock-namespace", k.ns)
				for name, text := range k.clusterSurfaces() {
					out[name] = text
				}
				assertNoSecret(t, s.value, out)
			})
		}
	}
}
