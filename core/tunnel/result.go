package tunnel

import (
	"fmt"
	"strings"

	"github.com/vnetproject/vnet/core/api"
)

// Failed is the DialResult that answers a dial with reason and err. It
// also carries the reason as the old string code ("refused", ...), which
// peers of the previous release read instead of reason.
func Failed(reason api.DialFailure, err error) *api.DialResult {
	return &api.DialResult{Reason: reason, Code: legacyCode(reason), Error: err.Error()}
}

// Reason is why r failed: its reason, or for a peer of the previous
// release (which sets only the string code) the reason that code names.
// DIAL_FAILURE_UNSPECIFIED for a success or an unknown code.
func Reason(r *api.DialResult) api.DialFailure {
	if r := r.GetReason(); r != api.DialFailure_DIAL_FAILURE_UNSPECIFIED {
		return r
	}
	return api.DialFailure(api.DialFailure_value[failurePrefix+strings.ToUpper(r.GetCode())])
}

const failurePrefix = "DIAL_FAILURE_"

// legacyCode is the string code DialResult carried before reason: the
// enum's name without its prefix, in lower case.
func legacyCode(reason api.DialFailure) string {
	if reason == api.DialFailure_DIAL_FAILURE_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(reason.String(), failurePrefix))
}

// resultError is the error a DialResult stands for: nil on success, else
// the sentinel its reason maps to, with the peer's message.
func resultError(r *api.DialResult) error {
	if r == nil {
		return fmt.Errorf("%w: proxy sent no dial result", ErrTransport)
	}
	var base error
	switch Reason(r) {
	case api.DialFailure_DIAL_FAILURE_REFUSED:
		base = ErrRefused
	case api.DialFailure_DIAL_FAILURE_NOT_FOUND:
		base = ErrNotFound
	case api.DialFailure_DIAL_FAILURE_DENIED:
		base = ErrDenied
	default:
		base = ErrTransport
	}
	return fmt.Errorf("%w: %s", base, r.GetError())
}
