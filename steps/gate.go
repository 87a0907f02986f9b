package steps

import (
	"context"
	"strings"

	"github.com/cairn-dev/cairn/playbooks"
)

// GateParams are the params of the gate kind.
type GateParams struct {
	// Message says what the operator must verify before approving.
	Message string `yaml:"message" json:"message"`
}

// Validate requires a message: an approval without one is a rubber stamp.
func (p *GateParams) Validate() []playbooks.FieldError {
	if strings.TrimSpace(p.Message) == "" {
		return []playbooks.FieldError{{Field: "message", Msg: "is required: say what the operator must verify before approving"}}
	}
	return nil
}

// Outputs are filled by the engine from the approval record.
func (p *GateParams) Outputs() []string { return []string{"approver", "comment"} }

// GateMessage lets the engine show the message of a waiting gate.
func (p *GateParams) GateMessage() string { return p.Message }

func gateKind() Kind {
	return Kind{
		Name:      "gate",
		Summary:   "pause the run until an operator approves it with `cairn approve`",
		NewParams: func() any { return &GateParams{} },
		New:       func() (Executor, error) { return gate{}, nil },
		ReadOnly:  true,
	}
}

type gate struct{}

// Run always waits: the engine records the approval and completes the
// instance itself, so a gate never runs again once approved.
func (gate) Run(ctx context.Context, in Instance) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var msg string
	if p, ok := in.Params.(*GateParams); ok {
		msg = p.Message
	}
	return Result{Evidence: "waiting for approval: " + msg}, ErrAwaitApproval
}
