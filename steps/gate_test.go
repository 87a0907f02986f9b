package steps

import (
	"errors"
	"reflect"
	"testing"
)

func TestGate(t *testing.T) {
	if errs := (&GateParams{Message: "  "}).Validate(); len(errs) != 1 || errs[0].Field != "message" {
		t.Errorf("blank message: Validate() = %+v", errs)
	}
	p := &GateParams{Message: "test the application in namespace ${item}"}
	if errs := p.Validate(); len(errs) != 0 {
		t.Errorf("Validate() = %+v", errs)
	}
	if got := p.Outputs(); !reflect.DeepEqual(got, []string{"approver", "comment"}) {
		t.Errorf("Outputs() = %v", got)
	}
	if p.GateMessage() != p.Message {
		t.Errorf("GateMessage() = %q", p.GateMessage())
	}
	ex, err := NewRegistry(Deps{}).Executor("gate")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ex.Run(t.Context(), Instance{Params: &GateParams{Message: "check ns-a"}})
	if !errors.Is(err, ErrAwaitApproval) {
		t.Fatalf("Run() error = %v, want ErrAwaitApproval", err)
	}
	if res.Evidence != "waiting for approval: check ns-a" {
		t.Errorf("evidence = %q", res.Evidence)
	}
}
