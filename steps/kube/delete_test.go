package kube

import (
	"strings"
	"testing"
	"time"
)

func TestDeleteParamsValidate(t *testing.T) {
	ok := DeleteParams{Kinds: []string{"Service", "deploy"}, Name: "istiod-${params.oldRev}", Namespace: "istio-system", Wait: true, Timeout: time.Minute, Propagation: "Foreground"}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Errorf("valid params: %v", errs)
	}
	for _, tc := range []struct {
		p    DeleteParams
		want string
	}{
		{DeleteParams{Name: "x"}, "kinds: is required"},
		{DeleteParams{Kinds: []string{"Service", " "}, Name: "x"}, "kinds.1: must name a kind"},
		{DeleteParams{Kinds: []string{"Service"}}, "name: is required"},
		{DeleteParams{Kinds: []string{"Service,Deployment"}, Name: "x"}, "kinds.0: list kinds separately, e.g. [Service, Deployment]"},
		{DeleteParams{Kinds: []string{"Service"}, Name: "x", Propagation: "background"}, `propagation: must be Background, Foreground or Orphan, not "background"`},
		{DeleteParams{Kinds: []string{"Service"}, Name: "x", Timeout: time.Minute}, "timeout: only applies with wait: true"},
	} {
		errs := tc.p.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Field+": "+errs[0].Msg, tc.want) {
			t.Errorf("Validate(%+v) = %v, want one error like %q", tc.p, errs, tc.want)
		}
	}
}
