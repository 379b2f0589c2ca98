package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// Who may call which method is decided here, and only here: every method
// of every service the proxy registers has one entry in policies, which
// the interceptors (authn.go) enforce before the handler runs. A method
// without an entry is refused, whoever calls it; TestEveryMethodHasAPolicy
// walks the real server's services so that one cannot ship. Handlers get
// the authenticated caller from the context (identityFrom, machineFrom)
// and keep only object-level checks: RBAC on an app, the agent a dial
// waits for.

// policy is the set of callers a method admits.
type policy uint8

const (
	// allowPublic: anyone, without a certificate. Ping, login, and the joins,
	// whose request carries its credential (a token). It stands alone:
	// combined with another kind it would demand a certificate.
	allowPublic policy = 1 << iota
	// allowUser: a user of this cluster, whatever their roles.
	allowUser
	// allowAdmin: a user with the admin role.
	allowAdmin
	// allowAgent: an App Service agent that has joined and not been removed.
	allowAgent
	// allowLeaf: a leaf cluster whose trust has not been removed.
	allowLeaf
	// allowPeerProxy: another proxy of this cluster.
	allowPeerProxy
)

// policies is who may call each method. One entry per method of every
// service registered in New (services.go); nothing else is served.
var policies = map[string]policy{
	api.Auth_Ping_FullMethodName:  allowPublic,
	api.Auth_Login_FullMethodName: allowPublic,

	api.Cluster_GetVNetConfig_FullMethodName: allowUser,
	api.Cluster_ListApps_FullMethodName:      allowUser,
	api.Cluster_WatchCatalog_FullMethodName:  allowUser,

	api.Cluster_CreateResource_FullMethodName: allowAdmin,
	api.Cluster_GetResources_FullMethodName:   allowAdmin,
	api.Cluster_DeleteResource_FullMethodName: allowAdmin,
	api.Cluster_AddUser_FullMethodName:        allowAdmin,
	api.Cluster_Status_FullMethodName:         allowAdmin,
	api.Cluster_SearchAudit_FullMethodName:    allowAdmin,
	api.Cluster_AddToken_FullMethodName:       allowAdmin, // a join token adds machines to the cluster
	api.Cluster_ListTokens_FullMethodName:     allowAdmin,
	api.Cluster_ListAgents_FullMethodName:     allowAdmin,
	api.Cluster_RemoveAgent_FullMethodName:    allowAdmin,

	api.Account_ChangePassword_FullMethodName: allowUser, // the user is the certificate's (passwd.go)
	api.Account_ResetUser_FullMethodName:      allowAdmin,

	api.Tunnel_Dial_FullMethodName: allowUser, // RBAC on the app: rbac.go

	api.Agent_Join_FullMethodName:    allowPublic, // the join token is the credential
	api.Agent_Control_FullMethodName: allowAgent,
	// A leaf answers its root's dials on the agents' call (leaves.go).
	api.Agent_Connect_FullMethodName: allowAgent | allowLeaf,
	api.Agent_Renew_FullMethodName:   allowAgent, // renew.go

	api.Peer_Dial_FullMethodName: allowPeerProxy,

	api.Trust_Join_FullMethodName:    allowPublic, // the trusted_cluster token is the credential
	api.Trust_Control_FullMethodName: allowLeaf,
	api.Trust_Renew_FullMethodName:   allowLeaf, // renew.go
}

// String names the callers p admits, for messages.
func (p policy) String() string {
	var names []string
	for _, k := range []struct {
		p    policy
		name string
	}{
		{allowPublic, "anyone"}, {allowUser, "users"}, {allowAdmin, "administrators"}, {allowAgent, "agents"},
		{allowLeaf, "leaf clusters"}, {allowPeerProxy, "the cluster's proxies"},
	} {
		if p&k.p != 0 {
			names = append(names, k.name)
		}
	}
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, " or ")
}

// certKind is the kind of caller a client certificate claims to be, by
// its user name: machines' names have a prefix no user name can have
// (user names have no ':'). It only chooses which check runs: the check
// verifies the certificate and its record.
func certKind(cert *x509.Certificate) (kind policy, role, what string) {
	cn := cert.Subject.CommonName
	switch {
	case strings.HasPrefix(cn, auth.AgentUserPrefix):
		return allowAgent, auth.RoleAgent, "an agent's"
	case strings.HasPrefix(cn, auth.LeafUserPrefix):
		return allowLeaf, auth.RoleLeaf, "a leaf cluster's"
	case strings.HasPrefix(cn, auth.ProxyUserPrefix):
		return allowPeerProxy, auth.RoleProxy, "a proxy's"
	}
	return allowUser, "", "a user's"
}

// machine is an authenticated agent, leaf cluster or peer proxy.
type machine struct {
	role string // auth.RoleAgent, RoleLeaf or RoleProxy
	name string // agent ID, leaf cluster name or proxy name
}

type machineKey struct{}

// authenticate enforces method's policy on the caller and returns the
// context the handler runs with: a user's identity (identityFrom) or a
// machine's (machineFrom) in it.
func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	pol, ok := policies[method]
	if !ok {
		s.cfg.Logger.Warn("refused a call to a method without an access policy", "method", method, "addr", peerAddr(ctx))
		return nil, status.Errorf(codes.PermissionDenied, "%s: %s: %s has no access policy on this proxy", s.cfg.ClusterName, auth.ErrAccessDenied, method)
	}
	if pol == allowPublic {
		return ctx, nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer")
	}
	// vctx carries the connection's chain-check cache (conncreds.go) to
	// the checks below; the call goes on with ctx.
	vctx, info, ok := tlsInfoOf(ctx, p.AuthInfo)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not a TLS connection")
	}
	chain := info.State.PeerCertificates
	if len(chain) == 0 {
		s.cfg.Logger.Info("rejected client", "addr", p.Addr, "method", method, "err", auth.ErrNoCertificate)
		return nil, status.Error(codes.Unauthenticated, s.cfg.ClusterName+": "+auth.ErrNoCertificate.Error())
	}
	kind, role, what := certKind(chain[0])
	if pol&kind == 0 && !(kind == allowUser && pol&allowAdmin != 0) {
		s.cfg.Logger.Info("rejected client", "addr", p.Addr, "method", method, "cert", what, "policy", pol.String())
		return nil, status.Errorf(codes.PermissionDenied, "%s: %s: %s is for %s, and this is %s certificate", s.cfg.ClusterName, auth.ErrAccessDenied, method, pol, what)
	}
	if kind != allowUser {
		name, err := s.cfg.Auth.AuthenticateMachine(vctx, chain, role)
		if st, ok := unavailableStatus(err); ok {
			return nil, st
		}
		if err != nil {
			s.cfg.Logger.Info("rejected machine", "addr", p.Addr, "method", method, "role", role, "err", err)
			code := codes.Unauthenticated
			if errors.Is(err, auth.ErrAccessDenied) {
				code = codes.PermissionDenied
			}
			return nil, status.Error(code, s.cfg.ClusterName+": "+err.Error())
		}
		return context.WithValue(ctx, machineKey{}, machine{role: role, name: name}), nil
	}
	id, err := s.cfg.Auth.Authenticate(vctx, chain)
	if st, ok := unavailableStatus(err); ok {
		return nil, st
	}
	if err != nil {
		s.cfg.Logger.Info("rejected client", "addr", p.Addr, "method", method, "err", err)
		return nil, status.Error(codes.Unauthenticated, s.cfg.ClusterName+": "+err.Error())
	}
	if pol&allowUser == 0 && !id.IsAdmin() {
		return nil, status.Errorf(codes.PermissionDenied, "%s: %s: user %q lacks the %s role", s.cfg.ClusterName, auth.ErrAccessDenied, id.User, auth.RoleAdmin)
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

// machineFrom returns the name of the machine the interceptor
// authenticated for this call, if it holds role.
func machineFrom(ctx context.Context, role string) (string, error) {
	m, ok := ctx.Value(machineKey{}).(machine)
	if !ok || m.role != role {
		// The policy table admits no such caller here: a programming
		// error, refused rather than served.
		return "", status.Errorf(codes.PermissionDenied, "%s: the call was not authenticated as %s", auth.ErrAccessDenied, role)
	}
	return m.name, nil
}
