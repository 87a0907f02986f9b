package kube

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// judgeFieldPrefix asserts that every object's value at rawPath starts with
// prefix. On success the evidence names the distinct values found and how
// many objects have each (`status.nodeInfo.kubeletVersion starts with
// "v1.23.5-gke": v1.23.5-gke.1505 on 3`), so the journal records, say, every
// node's kubelet version and not only that they matched.
func judgeFieldPrefix(out *checkOutcome, kind string, objs []*unstructured.Unstructured, rawPath, prefix string) {
	path, err := ParseFieldPath(rawPath)
	if err != nil {
		out.failures = append(out.failures, err.Error())
		return
	}
	if prefix == "" { // every value would match: the reference behind it rendered empty
		out.failures = append(out.failures, fmt.Sprintf("fieldPrefixes.%s is empty, which every value would match", path))
		return
	}
	counts := map[string]int{}
	failed := len(out.failures)
	judgeEach(out, kind, objs, fmt.Sprintf("with %s not starting with %q", path, prefix),
		fmt.Sprintf("%s starts with %q", path, prefix),
		func(u *unstructured.Unstructured) string {
			got, ok := path.LookupString(u.Object)
			switch {
			case !ok:
				return path.String() + " not set"
			case !strings.HasPrefix(got, prefix):
				return fmt.Sprintf("%q", got)
			}
			counts[got]++
			return ""
		})
	if len(out.failures) == failed { // judgeEach recorded a pass: add what it saw
		out.passed[len(out.passed)-1] += ": " + valueCounts(counts)
	}
}

// valueCounts renders {"a": 2, "b": 1} as "a on 2, b on 1", sorted by value.
func valueCounts(counts map[string]int) string {
	vals := make([]string, 0, len(counts))
	for v := range counts {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = fmt.Sprintf("%s on %d", v, counts[v])
	}
	return strings.Join(parts, ", ")
}
