package proxy

import (
	"context"
	"errors"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/state"
)

type identityKey struct{}

func identityFrom(ctx context.Context) (auth.Identity, error) {
	id, ok := ctx.Value(identityKey{}).(auth.Identity)
	if !ok {
		return auth.Identity{}, errors.New("unauthenticated")
	}
	return id, nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	res, err := h(ctx, req)
	if st, ok := unavailableStatus(err); ok {
		return nil, st
	}
	return res, err
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a authedStream) Context() context.Context { return a.ctx }

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	limited := limitedStream{ServerStream: ss, s: s}
	err = s.limitStream(ctx, info.FullMethod, func() error { // limits.go
		return h(srv, authedStream{ServerStream: limited, ctx: ctx})
	})
	if st, ok := unavailableStatus(err); ok {
		return st
	}
	return err
}

// peerAddr is the client's address as the proxy sees it.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// grpcError maps our errors to status codes; the message stays one line.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	if st, ok := unavailableStatus(err); ok {
		return st
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	switch {
	case errors.Is(err, auth.ErrInvalidLogin):
		return status.Error(codes.Unauthenticated, msg)
	case errors.Is(err, auth.ErrTooManyLogins):
		return status.Error(codes.ResourceExhausted, msg)
	case errors.Is(err, auth.ErrLoginBusy):
		return status.Error(codes.Unavailable, msg)
	case errors.Is(err, auth.ErrAccessDenied):
		return status.Error(codes.PermissionDenied, msg)
	case errors.Is(err, auth.ErrNoSuchResource), errors.Is(err, state.ErrNotFound):
		return status.Error(codes.NotFound, msg)
	default:
		return status.Error(codes.InvalidArgument, msg)
	}
}

// peerHost is the client's IP address without the port, as login limits
// count it.
func peerHost(ctx context.Context) string {
	addr := peerAddr(ctx)
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
