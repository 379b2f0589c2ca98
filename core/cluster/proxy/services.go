package proxy

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

type authServer struct {
	api.UnimplementedAuthServer
	s *Server
}

func (a *authServer) Ping(context.Context, *api.PingRequest) (*api.PingResponse, error) {
	return &api.PingResponse{ClusterName: a.s.cfg.ClusterName, ServerVersion: a.s.cfg.Version, ProxyPublicAddr: a.s.cfg.PublicAddr}, nil
}

func (a *authServer) Login(ctx context.Context, req *api.LoginRequest) (*api.LoginResponse, error) {
	if req.GetPassword() != "" {
		return nil, status.Error(codes.Unimplemented, "password login is not available yet: log in with the one-time token from 'vnet ctl users add'")
	}
	cert, id, err := a.s.cfg.Auth.LoginWithToken(ctx, req.GetUser(), req.GetToken(), "", req.GetPublicKey(), peerHost(ctx))
	if err != nil {
		a.s.cfg.Logger.Info("login failed", "user", req.GetUser(), "addr", peerAddr(ctx), "err", err)
		return nil, grpcError(err)
	}
	a.s.cfg.Logger.Info("login", "user", id.User, "roles", id.Roles, "addr", peerAddr(ctx))
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
	apps, err := c.s.cfg.State.Apps(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.ListAppsResponse{ClusterName: c.s.cfg.ClusterName, ProxyPublicAddr: c.s.cfg.PublicAddr}
	for _, a := range apps {
		out.Apps = append(out.Apps, appToAPI(a))
	}
	return out, nil
}

func (c *clusterServer) CreateResource(ctx context.Context, req *api.CreateResourceRequest) (*api.CreateResourceResponse, error) {
	r, err := resource.Parse(req.GetYaml())
	if err != nil {
		return nil, grpcError(err)
	}
	created, err := c.s.cfg.State.Create(ctx, r, req.GetForce())
	if err != nil {
		return nil, grpcError(err)
	}
	id, _ := identityFrom(ctx)
	c.s.cfg.Logger.Info("resource written", "kind", r.Kind(), "name", r.Name(), "created", created, "by", id.User)
	return &api.CreateResourceResponse{Kind: r.Kind(), Name: r.Name(), Created: created}, nil
}

func (c *clusterServer) GetResources(ctx context.Context, req *api.GetResourcesRequest) (*api.GetResourcesResponse, error) {
	var rs []resource.Resource
	switch {
	case req.GetKind() == resource.KindVNetConfig:
		cfg, err := c.s.cfg.State.VNetConfig(ctx)
		if err != nil {
			return nil, grpcError(err)
		}
		rs = []resource.Resource{cfg}
	case req.GetName() != "":
		r, err := c.s.cfg.State.Get(ctx, req.GetKind(), req.GetName())
		if errors.Is(err, state.ErrNotFound) {
			return nil, status.Error(codes.NotFound, err.Error())
		}
		if err != nil {
			return nil, grpcError(err)
		}
		rs = []resource.Resource{r}
	default:
		if !resource.IsKind(req.GetKind()) {
			return nil, status.Errorf(codes.InvalidArgument, "unknown kind %q", req.GetKind())
		}
		var err error
		if rs, err = c.s.cfg.State.List(ctx, req.GetKind()); err != nil {
			return nil, grpcError(err)
		}
	}
	out := &api.GetResourcesResponse{}
	for _, r := range rs {
		data, err := resource.Marshal(r)
		if err != nil {
			return nil, grpcError(err)
		}
		out.Yaml = append(out.Yaml, data)
	}
	return out, nil
}

func (c *clusterServer) AddUser(ctx context.Context, req *api.AddUserRequest) (*api.AddUserResponse, error) {
	token, expires, err := c.s.cfg.Auth.AddUser(ctx, req.GetName(), req.GetRoles())
	if err != nil {
		return nil, grpcError(err)
	}
	return &api.AddUserResponse{Token: token, TokenExpiresUnix: expires.Unix()}, nil
}

func (c *clusterServer) Status(context.Context, *api.StatusRequest) (*api.StatusResponse, error) {
	return &api.StatusResponse{ClusterName: c.s.cfg.ClusterName, Version: c.s.cfg.Version, CaPin: c.s.cfg.Auth.CA().Pin()}, nil
}
