package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdErr is an error as etcd's client returns it for a server's
// refusal (rpctypes.EtcdError): a gRPC code and etcd's words.
type etcdErr struct {
	code codes.Code
	desc string
}

func (e etcdErr) Error() string    { return e.desc }
func (e etcdErr) Code() codes.Code { return e.code }

// TestEtcdUnavailableMapping: the errors of an etcd that cannot answer now
// (its own deadline passed, no leader, a connection refused) become one
// line naming the store, and nothing else does.
func TestEtcdUnavailableMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // the reason; "" means not unavailable
	}{
		{"deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), "no answer within 1.5s"},
		{"no leader", etcdErr{codes.Unavailable, "etcdserver: no leader"}, "no leader (a majority of the members is down or cut off)"},
		{"request timed out", etcdErr{codes.Unavailable, "etcdserver: request timed out"}, "request timed out"},
		{"connection refused", status.Error(codes.Unavailable, "connection error: desc = \"transport: dial tcp 127.0.0.1:1: connect: connection refused\""), "connection error: desc = \"transport: dial tcp 127.0.0.1:1: connect: connection refused\""},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "no answer within 1.5s"},
		{"deadline through the client's retries", status.Error(codes.Unknown, "context deadline exceeded"), "no answer within 1.5s"},
		{"permission denied", etcdErr{codes.PermissionDenied, "etcdserver: permission denied"}, ""},
		{"too many ops", etcdErr{codes.InvalidArgument, "etcdserver: too many operations in txn request"}, ""},
		{"plain", errors.New("boom"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, ok := etcdUnavailable(tc.err, 1500*time.Millisecond)
			if ok != (tc.want != "") || why != tc.want {
				t.Fatalf("etcdUnavailable = %q, %v; want %q", why, ok, tc.want)
			}
		})
	}
}

// TestEtcdWrapUnavailable: an operation that etcd cannot answer is an
// *UnavailableError whose one line starts "store unavailable: etcd at"
// and names the operation; errors.Is finds ErrUnavailable through any
// wrapping; the caller's own end stays the caller's.
func TestEtcdWrapUnavailable(t *testing.T) {
	e := &Etcd{name: "etcd at http://127.0.0.1:1,http://127.0.0.1:2", timeout: time.Second}
	err := fmt.Errorf("store app %q: %w", "web", e.wrap(context.Background(), "create", "/resources/app/web", etcdErr{codes.Unavailable, "etcdserver: no leader"}))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v: not ErrUnavailable", err)
	}
	line := Unavailable(err).Error()
	want := `store unavailable: etcd at http://127.0.0.1:1,http://127.0.0.1:2: create "/resources/app/web": no leader`
	if !strings.HasPrefix(line, want) || strings.Contains(line, "\n") {
		t.Fatalf("line = %q; want it to start %q", line, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.wrap(ctx, "get", "k", context.Canceled); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("canceled caller: %v; want context.Canceled", err)
	}
	if err := e.wrap(context.Background(), "get", "k", etcdErr{codes.PermissionDenied, "etcdserver: permission denied"}); errors.Is(err, ErrUnavailable) {
		t.Fatalf("permission denied: %v is not unavailability", err)
	}
}
