package proxy

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

type authServer struct {
	api.UnimplementedAuthServer
	s *Server
}

func (a *authServer) Ping(context.Context, *api.PingRequest) (*api.PingResponse, error) {
	return &api.PingResponse{ClusterName: a.s.cfg.ClusterName, ServerVersion: a.s.cfg.Version, ProxyPublicAddr: a.s.cfg.PublicAddr}, nil
}

// Login exchanges a one-time token (optionally setting a password) or a
// password for a client certificate. Failed logins are limited per user
// and per source address (auth's limiter).
func (a *authServer) Login(ctx context.Context, req *api.LoginRequest) (*api.LoginResponse, error) {
	var (
		cert []byte
		id   auth.Identity
		err  error
	)
	switch {
	case req.GetToken() != "":
		cert, id, err = a.s.cfg.Auth.LoginWithToken(ctx, req.GetUser(), req.GetToken(), req.GetNewPassword(), req.GetPublicKey(), peerHost(ctx))
	case req.GetNewPassword() != "":
		err = status.Error(codes.InvalidArgument, "a new password is set with a sign-up token: ask your administrator for one ('vnet ctl users add')")
	default:
		cert, id, err = a.s.cfg.Auth.LoginWithPassword(ctx, req.GetUser(), req.GetPassword(), req.GetPublicKey(), peerHost(ctx))
	}
	if err != nil {
		a.s.cfg.Logger.Info("login failed", "user", clip(req.GetUser()), "addr", peerAddr(ctx), "err", err)
		return nil, grpcError(err)
	}
	a.s.cfg.Logger.Info("login", "user", id.User, "roles", id.Roles, "addr", peerAddr(ctx), "password_set", req.GetNewPassword() != "")
	return &api.LoginResponse{
		CertificatePem: cert,
		CaPem:          a.s.cfg.Auth.CA().CertPEM,
		ClusterName:    a.s.cfg.ClusterName,
		Roles:          id.Roles,
	}, nil
}

type clusterServer struct {
	api.UnimplementedClusterServer
	s *Server
}

func (c *clusterServer) GetVNetConfig(ctx context.Context, _ *api.GetVNetConfigRequest) (*api.VNetConfig, error) {
	cfg, err := c.s.cfg.State.VNetConfig(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.VNetConfig{Ipv4CidrRange: cfg.Spec.IPv4CIDRRange}
	for _, z := range cfg.Spec.CustomDNSZones {
		out.CustomDnsZones = append(out.CustomDnsZones, z.Suffix)
	}
	return out, nil
}

func (c *clusterServer) ListApps(ctx context.Context, _ *api.ListAppsRequest) (*api.ListAppsResponse, error) {
	id, err := identityFrom(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	all, err := c.s.cfg.State.Apps(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	// Only what the caller may reach: an app they cannot dial is not
	// theirs to see (nor to get a name and address for from VNet).
	apps, err := c.s.visibleApps(ctx, id, all)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.ListAppsResponse{ClusterName: c.s.cfg.ClusterName, ProxyPublicAddr: c.s.cfg.PublicAddr}
	for _, a := range apps {
		out.Apps = append(out.Apps, appToAPI(a))
	}
	return out, nil
}

func (c *clusterServer) Status(context.Context, *api.StatusRequest) (*api.StatusResponse, error) {
	return &api.StatusResponse{ClusterName: c.s.cfg.ClusterName, Version: c.s.cfg.Version, CaPin: c.s.cfg.Auth.CA().Pin()}, nil
}
