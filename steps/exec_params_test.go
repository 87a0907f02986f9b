package steps

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/playbooks"
)

func TestExecValidate(t *testing.T) {
	ok := func() *ExecParams { return &ExecParams{Argv: []string{"/bin/true"}} }
	cases := []struct {
		name   string
		mutate func(*ExecParams)
		field  string
		msg    string
	}{
		{"no argv", func(p *ExecParams) { p.Argv = nil }, "argv", "is required"},
		{"empty argv0", func(p *ExecParams) { p.Argv = []string{" ", "x"} }, "argv.0", "must name the program"},
		{"env name with =", func(p *ExecParams) { p.Env = map[string]string{"A=B": "x"} }, "env.A=B", "invalid environment variable name"},
		{"negative timeout", func(p *ExecParams) { p.Timeout = -time.Second }, "timeout", "must not be negative"},
		{"exit code too big", func(p *ExecParams) { p.ExpectExitCodes = []int{0, 256} }, "expectExitCodes.1", "out of range 0..255"},
		{"negative exit code", func(p *ExecParams) { p.ExpectExitCodes = []int{-1} }, "expectExitCodes.0", "out of range"},
		{"bad expect", func(p *ExecParams) { p.Expect = "Verified (OK" }, "expect", "invalid regex"},
		{"bad output regex", func(p *ExecParams) { p.OutputSpecs = map[string]ExecOutput{"rev": {Regex: "rev=(\\S+"}} }, "outputs.rev.regex", "invalid regex"},
		{"bad output name", func(p *ExecParams) { p.OutputSpecs = map[string]ExecOutput{"1rev": {Regex: "x"}} }, "outputs.1rev", "invalid output name"},
		{"dash in output name", func(p *ExecParams) { p.OutputSpecs = map[string]ExecOutput{"my-rev": {Regex: "x"}} }, "outputs.my-rev", "invalid output name"},
		{"both regex and json", func(p *ExecParams) { p.OutputSpecs = map[string]ExecOutput{"v": {Regex: "x", JSON: "a"}} }, "outputs.v", "exactly one of regex or json"},
		{"neither regex nor json", func(p *ExecParams) { p.OutputSpecs = map[string]ExecOutput{"v": {}} }, "outputs.v", "set one of regex or json"},
		{"bad json path", func(p *ExecParams) { p.OutputSpecs = map[string]ExecOutput{"v": {JSON: "items..name"}} }, "outputs.v.json", "empty segment"},
		{"negative tailBytes", func(p *ExecParams) { p.TailBytes = -1 }, "tailBytes", "between 1 and 1048576"},
		{"huge tailBytes", func(p *ExecParams) { p.TailBytes = 2 << 20 }, "tailBytes", "between 1 and 1048576"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ok()
			c.mutate(p)
			errs := p.Validate()
			if len(errs) != 1 || errs[0].Field != c.field || !strings.Contains(errs[0].Msg, c.msg) {
				t.Errorf("Validate() = %+v, want one error at %s containing %q", errs, c.field, c.msg)
			}
		})
	}
}

func TestExecValidateAcceptsReferences(t *testing.T) {
	p := &ExecParams{
		Argv:            []string{"${params.istioctl}", "version"},
		Env:             map[string]string{"KUBECONFIG": "${params.kubeconfig}"},
		Timeout:         5 * time.Minute,
		ExpectExitCodes: []int{0, 255},
		// Not valid regexes as written, but the references are rendered first.
		Expect: "revision (${params.rev}",
		OutputSpecs: map[string]ExecOutput{
			"rev":     {Regex: `istio.io/rev=(\S+)`},
			"_v2":     {JSON: "clientVersion.${params.field}"},
			"version": {Regex: "(${params.re}"},
		},
		TailBytes: 1 << 20,
	}
	if errs := p.Validate(); len(errs) != 0 {
		t.Errorf("Validate() = %+v", errs)
	}
	if got, want := p.Outputs(), []string{"_v2", "rev", "version"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Outputs() = %v, want %v", got, want)
	}
}

func TestExecRenderedParamsCheckedAtRunTime(t *testing.T) {
	p := &ExecParams{Argv: []string{"${params.tool}"}, Expect: "(${params.re}"}
	if errs := p.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	r, err := playbooks.Render(p, &playbooks.Scope{Params: playbooks.Values{"tool": "/bin/true", "re": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&execExecutor{now: time.Now}).Run(t.Context(), Instance{Params: r})
	wantErr(t, err, true, "expect: invalid regex")

	r, _ = playbooks.Render(p, &playbooks.Scope{Params: playbooks.Values{"tool": "", "re": "x)"}})
	_, err = (&execExecutor{now: time.Now}).Run(t.Context(), Instance{Params: r})
	wantErr(t, err, true, "argv[0] is empty after rendering")
}
