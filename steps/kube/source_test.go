package kube

import (
	"strings"
	"testing"
)

func TestSourceParamsValidate(t *testing.T) {
	if errs := (&NamespacesParams{Selector: "istio-injection=enabled", Exclude: []string{"kube-system"}}).Validate(); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	errs := (&NamespacesParams{Selector: "a in (", Exclude: []string{""}}).Validate()
	if len(errs) != 2 || errs[0].Field != "selector" || errs[1].Field != "exclude.0" {
		t.Errorf("Validate = %v", errs)
	}
	errs = (&NamesParams{ObjectQuery: ObjectQuery{Kind: "Deployment", AllNamespaces: true}}).Validate()
	if len(errs) != 1 || errs[0].Field != "allNamespaces" || !strings.Contains(errs[0].Msg, "bare names") {
		t.Errorf("Validate = %v", errs)
	}
}
