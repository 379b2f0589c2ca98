package proxy

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustermetrics"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// The gRPC services of the proxy, method by method, and the part that
// serves each (who may call them: policy.go). A service type holds only
// the parts it calls into.

// register registers every service the proxy serves; policies has one
// entry per method of each.
func (s *Server) register() {
	cfg := s.cfg
	api.RegisterAuthServer(s.grpc, &authServer{cluster: cfg.ClusterName, version: cfg.Version, publicAddr: cfg.PublicAddr, auth: cfg.Auth, log: cfg.Logger, metrics: cfg.Metrics})
	api.RegisterClusterServer(s.grpc, &clusterServer{cluster: cfg.ClusterName, version: cfg.Version, auth: cfg.Auth, catalog: s.catalog, admin: s.admin, agents: s.agents, store: cfg.Store})
	api.RegisterTunnelServer(s.grpc, &tunnelServer{tunnels: s.tunnels})
	api.RegisterAgentServer(s.grpc, &agentServer{agents: s.agents})
	api.RegisterPeerServer(s.grpc, &peerServer{agents: s.agents})
	api.RegisterTrustServer(s.grpc, &trustServer{leaves: s.leaves})
	api.RegisterAccountServer(s.grpc, &accountServer{auth: cfg.Auth, log: cfg.Logger}) // passwd.go
}

// authServer is Ping and Login; logins are the Auth Service's to check.
type authServer struct {
	api.UnimplementedAuthServer
	cluster, version, publicAddr string
	auth                         *auth.Service // never nil
	log                          *slog.Logger
	metrics                      *clustermetrics.Proxy
}

func (a *authServer) Ping(context.Context, *api.PingRequest) (*api.PingResponse, error) {
	return &api.PingResponse{ClusterName: a.cluster, ServerVersion: a.version, ProxyPublicAddr: a.publicAddr}, nil
}

// Login exchanges a one-time token (optionally setting a password) or a
// password for a client certificate. Failed logins are limited per user
// and per source address (auth's limiter).
func (a *authServer) Login(ctx context.Context, req *api.LoginRequest) (*api.LoginResponse, error) {
	var (
		cert   []byte
		id     auth.Identity
		err    error
		method = clustermetrics.LoginPassword
	)
	switch {
	case req.GetToken() != "":
		method = clustermetrics.LoginToken
		cert, id, err = a.auth.LoginWithToken(ctx, req.GetUser(), req.GetToken(), req.GetNewPassword(), req.GetPublicKey(), peerHost(ctx))
	case req.GetNewPassword() != "":
		err = status.Error(codes.InvalidArgument, "a new password is set with a sign-up token: ask your administrator for one ('vnet ctl users add')")
	default:
		cert, id, err = a.auth.LoginWithPassword(ctx, req.GetUser(), req.GetPassword(), req.GetPublicKey(), peerHost(ctx))
	}
	if err != nil {
		a.log.Info("login failed", "user", clip(req.GetUser()), "addr", peerAddr(ctx), "err", err)
		a.metrics.LoginFailed(method, loginFailure(err))
		return nil, grpcError(err)
	}
	a.log.Info("login", "user", id.User, "roles", id.Roles, "addr", peerAddr(ctx), "password_set", req.GetNewPassword() != "")
	return &api.LoginResponse{
		CertificatePem: cert,
		CaPem:          a.auth.CA().CertPEM,
		ClusterName:    a.cluster,
		Roles:          id.Roles,
	}, nil
}

// clusterServer is the catalog (users) and the administration (admins).
type clusterServer struct {
	api.UnimplementedClusterServer
	cluster, version string
	auth             *auth.Service
	catalog          *catalog
	admin            *admin
	agents           *agents
	store            store.Store // for Status; nil in some tests
}

func (c *clusterServer) GetVNetConfig(ctx context.Context, _ *api.GetVNetConfigRequest) (*api.VNetConfig, error) {
	return c.catalog.vnetConfig(ctx)
}

func (c *clusterServer) ListApps(ctx context.Context, _ *api.ListAppsRequest) (*api.ListAppsResponse, error) {
	id, err := identityFrom(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return c.catalog.listApps(ctx, id)
}

func (c *clusterServer) WatchCatalog(req *api.WatchCatalogRequest, st api.Cluster_WatchCatalogServer) error {
	return c.catalog.watch(req, st)
}

func (c *clusterServer) Status(context.Context, *api.StatusRequest) (*api.StatusResponse, error) {
	res := &api.StatusResponse{ClusterName: c.cluster, Version: c.version, CaPin: c.auth.CA().Pin()}
	if c.store != nil {
		res.Store, res.StoreUnavailable = store.Describe(c.store), storeHealth(c.store)
	}
	return res, nil
}

func (c *clusterServer) CreateResource(ctx context.Context, req *api.CreateResourceRequest) (*api.CreateResourceResponse, error) {
	return c.admin.createResource(ctx, req)
}

func (c *clusterServer) GetResources(ctx context.Context, req *api.GetResourcesRequest) (*api.GetResourcesResponse, error) {
	return c.admin.getResources(ctx, req)
}

func (c *clusterServer) DeleteResource(ctx context.Context, req *api.DeleteResourceRequest) (*api.DeleteResourceResponse, error) {
	return c.admin.deleteResource(ctx, req)
}

func (c *clusterServer) AddUser(ctx context.Context, req *api.AddUserRequest) (*api.AddUserResponse, error) {
	return c.admin.addUser(ctx, req)
}

func (c *clusterServer) SearchAudit(ctx context.Context, req *api.SearchAuditRequest) (*api.SearchAuditResponse, error) {
	return c.admin.searchAudit(ctx, req)
}

func (c *clusterServer) AddToken(ctx context.Context, req *api.AddTokenRequest) (*api.AddTokenResponse, error) {
	return c.admin.addToken(ctx, req)
}

func (c *clusterServer) ListTokens(ctx context.Context, req *api.ListTokensRequest) (*api.ListTokensResponse, error) {
	return c.admin.listTokens(ctx, req)
}

func (c *clusterServer) ListAgents(ctx context.Context, _ *api.ListAgentsRequest) (*api.ListAgentsResponse, error) {
	return c.agents.list(ctx)
}

func (c *clusterServer) RemoveAgent(ctx context.Context, req *api.RemoveAgentRequest) (*api.RemoveAgentResponse, error) {
	return c.agents.remove(ctx, req)
}

// tunnelServer is users' dials.
type tunnelServer struct {
	api.UnimplementedTunnelServer
	tunnels *tunnels
}

func (t *tunnelServer) Dial(st api.Tunnel_DialServer) error { return t.tunnels.dial(st) }

// agentServer is the App Service agents' calls.
type agentServer struct {
	api.UnimplementedAgentServer
	agents *agents
}

func (a *agentServer) Join(ctx context.Context, req *api.JoinRequest) (*api.JoinResponse, error) {
	return a.agents.join(ctx, req)
}

func (a *agentServer) Control(st api.Agent_ControlServer) error { return a.agents.control(st) }

func (a *agentServer) Connect(st api.Agent_ConnectServer) error { return a.agents.connect(st) }

// Renew signs a new agent certificate for the calling agent (renew.go).
func (a *agentServer) Renew(ctx context.Context, req *api.RenewRequest) (*api.RenewResponse, error) {
	return renewMachine(ctx, a.agents.auth, a.agents.log, auth.RoleAgent, req)
}

// peerServer is the dials other proxies of the cluster forward here.
type peerServer struct {
	api.UnimplementedPeerServer
	agents *agents
}

func (p *peerServer) Dial(st api.Peer_DialServer) error { return p.agents.servePeer(st) }

// trustServer is leaf clusters' calls.
type trustServer struct {
	api.UnimplementedTrustServer
	leaves *leaves
}

func (t *trustServer) Join(ctx context.Context, req *api.JoinRequest) (*api.JoinResponse, error) {
	return t.leaves.join(ctx, req)
}

func (t *trustServer) Control(st api.Trust_ControlServer) error { return t.leaves.control(st) }

// Renew signs a new leaf certificate for the calling leaf cluster (renew.go).
func (t *trustServer) Renew(ctx context.Context, req *api.RenewRequest) (*api.RenewResponse, error) {
	return renewMachine(ctx, t.leaves.auth, t.leaves.log, auth.RoleLeaf, req)
}
