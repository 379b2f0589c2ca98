package proxy

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// ServiceInfo is every service and method the proxy's gRPC server serves.
func (s *Server) ServiceInfo() map[string]grpc.ServiceInfo { return s.grpc.GetServiceInfo() }

// Authenticate runs the interceptors' check of a call of method in ctx.
func (s *Server) Authenticate(ctx context.Context, method string) error {
	_, err := s.authenticate(ctx, method)
	return err
}

// PolicyOf names who may call method, and whether it has a policy.
func PolicyOf(method string) (string, bool) {
	p, ok := policies[method]
	return p.String(), ok
}

// PolicyMethods is every method the policy table names.
func PolicyMethods() []string {
	var out []string
	for m := range policies {
		out = append(out, m)
	}
	return out
}

// SetRecheckInterval makes the proxies started during the test recheck
// their open sessions every d.
func SetRecheckInterval(t testing.TB, d time.Duration) {
	old := recheckInterval
	recheckInterval = d
	t.Cleanup(func() { recheckInterval = old })
}

// SetDescribeTimeout makes the proxies wait d for a leaf's catalog.
func SetDescribeTimeout(t testing.TB, d time.Duration) {
	old := describeTimeout
	describeTimeout = d
	t.Cleanup(func() { describeTimeout = old })
}
