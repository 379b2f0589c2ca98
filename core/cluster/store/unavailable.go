package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrUnavailable: the store cannot answer now (etcd lost its quorum or
// its leader, or no member answered in time). Nothing was written; the
// call may succeed later. Backends return an *UnavailableError, which
// matches it with errors.Is.
var ErrUnavailable = errors.New("store unavailable")

// UnavailableError is ErrUnavailable with what was asked of which store.
// Its text is one line that starts "store unavailable: etcd ...", and
// callers that show it to a user show it whole, without their own
// wrapping (the operation and key are in it).
type UnavailableError struct {
	Backend string // "etcd at http://127.0.0.1:2379,..."
	Op, Key string
	Reason  string // etcd's words, without its "etcdserver: " prefix
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("store unavailable: %s: %s %q: %s", e.Backend, e.Op, e.Key, e.Reason)
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unavailable returns the *UnavailableError in err's chain, or nil.
func Unavailable(err error) *UnavailableError {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}

// etcdUnavailable reports whether err, from an etcd call whose own
// deadline was timeout, means etcd cannot answer now, and says why in a
// few words. The caller's context is checked before (its end is not the
// store's fault).
func etcdUnavailable(err error, timeout time.Duration) (string, bool) {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout), true
	}
	code, msg := codes.OK, ""
	// etcd's own errors (rpctypes.EtcdError) carry a gRPC code.
	var ee interface {
		error
		Code() codes.Code
	}
	if errors.As(err, &ee) {
		code, msg = ee.Code(), ee.Error()
	} else if s, ok := status.FromError(err); ok {
		code, msg = s.Code(), s.Message()
	}
	switch {
	case code == codes.Unavailable, code == codes.DeadlineExceeded:
	case strings.Contains(msg, context.DeadlineExceeded.Error()):
		// The client's retries report the call's own deadline as
		// codes.Unknown "context deadline exceeded".
		msg = ""
	default:
		return "", false
	}
	msg = strings.TrimPrefix(msg, "etcdserver: ")
	if msg == "" || msg == context.DeadlineExceeded.Error() {
		msg = fmt.Sprintf("no answer within %s", timeout)
	}
	if msg == "no leader" {
		msg = "no leader (a majority of the members is down or cut off)"
	}
	return strings.ReplaceAll(msg, "\n", " "), true
}
