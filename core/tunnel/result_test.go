package tunnel

import (
	"errors"
	"testing"

	"github.com/vnetproject/vnet/core/api"
)

// TestDialResultWire pins the DialResult contract both ways: each reason
// carries the string code the previous release wrote and read, a result
// from an old peer (code only) maps to the same reason, and every reason
// maps to the sentinel a client acts on.
func TestDialResultWire(t *testing.T) {
	cases := []struct {
		reason api.DialFailure
		code   string // on the wire since before reason existed
		want   error
	}{
		{api.DialFailure_DIAL_FAILURE_REFUSED, "refused", ErrRefused},
		{api.DialFailure_DIAL_FAILURE_NOT_FOUND, "not_found", ErrNotFound},
		{api.DialFailure_DIAL_FAILURE_DENIED, "denied", ErrDenied},
		{api.DialFailure_DIAL_FAILURE_INTERNAL, "internal", ErrTransport},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			r := Failed(c.reason, errors.New("why"))
			if r.GetCode() != c.code || r.GetReason() != c.reason || r.GetError() != "why" {
				t.Fatalf("Failed(%v) = %v, want code %q", c.reason, r, c.code)
			}
			old := &api.DialResult{Code: c.code, Error: "why"}
			if got := Reason(old); got != c.reason {
				t.Fatalf("Reason(code %q) = %v, want %v", c.code, got, c.reason)
			}
			for _, r := range []*api.DialResult{r, old} {
				if err := resultError(r); !errors.Is(err, c.want) || err.Error() != c.want.Error()+": why" {
					t.Fatalf("resultError(%v) = %v, want %v", r, err, c.want)
				}
			}
		})
	}
	// Reason wins over a code that disagrees; an unknown code is no reason.
	if got := Reason(&api.DialResult{Reason: api.DialFailure_DIAL_FAILURE_DENIED, Code: "refused"}); got != api.DialFailure_DIAL_FAILURE_DENIED {
		t.Fatalf("reason and code disagree: got %v", got)
	}
	if got := Reason(&api.DialResult{Code: "teapot", Error: "x"}); got != api.DialFailure_DIAL_FAILURE_UNSPECIFIED {
		t.Fatalf("unknown code: got %v", got)
	}
	if err := resultError(&api.DialResult{Code: "teapot", Error: "x"}); !errors.Is(err, ErrTransport) {
		t.Fatalf("unknown code: %v", err)
	}
}
