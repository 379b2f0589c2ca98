package proxy

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// accountServer is a user's own password (`vnet passwd`) and an
// administrator's reset of it (`vnet ctl users reset`), issue 14. The
// Auth Service checks and stores; this only finds the caller.
type accountServer struct {
	api.UnimplementedAccountServer
	auth *auth.Service // never nil
	log  *slog.Logger  // never nil
}

// ChangePassword sets the calling user's password; the current one is
// checked and counted as a login is.
func (a *accountServer) ChangePassword(ctx context.Context, req *api.ChangePasswordRequest) (*api.ChangePasswordResponse, error) {
	id, err := identityFrom(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if err := a.auth.ChangePassword(ctx, id.User, req.GetOldPassword(), req.GetNewPassword(), peerHost(ctx)); err != nil {
		a.log.Info("password change refused", "user", id.User, "addr", peerAddr(ctx), "err", err)
		return nil, grpcError(err)
	}
	a.log.Info("password changed", "user", id.User, "addr", peerAddr(ctx))
	return &api.ChangePasswordResponse{}, nil
}

// ResetUser clears a user's password and returns a new sign-up token.
func (a *accountServer) ResetUser(ctx context.Context, req *api.ResetUserRequest) (*api.ResetUserResponse, error) {
	token, expires, err := a.auth.ResetUser(ctx, req.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	id, _ := identityFrom(ctx)
	a.log.Info("user reset: password cleared, new sign-up token", "user", req.GetName(), "by", id.User)
	return &api.ResetUserResponse{Token: token, TokenExpiresUnix: expires.Unix()}, nil
}
