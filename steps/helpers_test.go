package steps

import (
	"errors"
	"strings"
	"testing"
)

func isPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

func wantErr(t *testing.T, err error, permanent bool, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error containing %q, got nil", subs)
	}
	if isPermanent(err) != permanent {
		t.Errorf("permanent = %v, want %v (err: %v)", isPermanent(err), permanent, err)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}
