// Package proxy is the cluster's Proxy Service: the one TLS endpoint that
// VNet and the admin CLI talk to. It authenticates every call by client
// certificate against one policy table (policy.go), serves the catalog
// and administration, and tunnels app connections.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// Config is what a proxy needs.
type Config struct {
	ClusterName string // never empty
	PublicAddr  string // host:port users dial; never empty
	Version     string
	Auth        *auth.Service   // never nil
	State       *state.State    // never nil
	Cert        tls.Certificate // the proxy's server certificate
	// DialApp reaches an app's target. Default: a TCP dial with DialTimeout.
	DialApp     func(ctx context.Context, network, addr string) (net.Conn, error)
	DialTimeout time.Duration // default 5s
	Logger      *slog.Logger
	// Audit keeps session events; nil: they go to Logger only.
	Audit AuditLog
	// Store is the store State reads, where agents' registrations live
	// too; never nil.
	Store store.Store
	// PeerAddr is where the other proxies of the cluster dial this one
	// (recorded with the agents connected here). Empty: apps whose
	// agents are connected here are reachable through this proxy only.
	PeerAddr string
	// AgentHeartbeat is how often agents heartbeat; an agent missing
	// three beats is gone and so are its apps. Default 5s.
	AgentHeartbeat time.Duration
	// MaxStreamsPerUser bounds the streams one user has open at this
	// proxy (limits.go); 0: DefaultMaxStreamsPerUser.
	MaxStreamsPerUser int
	// MaxStreamsPerConnection is the HTTP/2 MaxConcurrentStreams of every
	// connection; 0: DefaultMaxStreamsPerConnection.
	MaxStreamsPerConnection int
	// MaxMessageBytes is the largest message a client may send; 0:
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
}

// CheckAndSetDefaults validates cfg and fills in defaults.
func (c *Config) CheckAndSetDefaults() error {
	switch {
	case c.ClusterName == "":
		return errors.New("proxy: cluster name is required")
	case c.PublicAddr == "":
		return errors.New("proxy: public address is required")
	case c.Auth == nil || c.State == nil:
		return errors.New("proxy: auth service and state are required")
	case len(c.Cert.Certificate) == 0:
		return errors.New("proxy: server certificate is required")
	case c.Store == nil:
		return errors.New("proxy: store is required")
	}
	if c.AgentHeartbeat <= 0 {
		c.AgentHeartbeat = 5 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.DialApp == nil {
		d := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
		c.DialApp = d.DialContext
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c.checkLimits() // limits.go
}

// Server is a running proxy.
type Server struct {
	cfg  Config
	grpc *grpc.Server
	wg   sync.WaitGroup // tunnelled connections still relaying
	ctx  context.Context
	stop context.CancelFunc
	once sync.Once
	// sessions are the open tunnelled connections, to cut when their
	// user loses access.
	sessions sessionSet
	// streams counts each user's open streams (limits.go).
	streams streamLimiter

	agentSide         // agents' tunnels and forwarding between proxies (agents.go)
	leaves    leafHub // leaf clusters' tunnels to this (root) proxy (leaves.go)
}

// New returns a proxy ready to Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{cfg.Cert},
		MinVersion:   tls.VersionTLS13,
		// The client certificate is checked per call, not in the
		// handshake, so that a missing, expired or foreign certificate
		// gets a message that says so instead of a TLS alert.
		ClientAuth: tls.RequestClientCert,
	}
	s := &Server{cfg: cfg, streams: streamLimiter{max: cfg.MaxStreamsPerUser}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.grpc = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.UnaryInterceptor(s.unaryAuth),
		grpc.StreamInterceptor(s.streamAuth),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// No fixed HTTP/2 windows, so that gRPC's BDP estimation sizes
		// them (mtls.Identity.Dial says why).
		grpc.MaxConcurrentStreams(uint32(cfg.MaxStreamsPerConnection)),
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
	)
	api.RegisterAuthServer(s.grpc, &authServer{s: s})
	api.RegisterClusterServer(s.grpc, &clusterServer{s: s})
	api.RegisterTunnelServer(s.grpc, &tunnelServer{s: s})
	api.RegisterTrustServer(s.grpc, &trustServer{s: s})
	if err := s.startAgents(); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.recheckSessions()
	return s, nil
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Close stops the proxy: new calls are refused, open tunnels are cut, and
// Close returns when every relay has ended. Idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.stop()
		s.grpc.Stop()
		s.wg.Wait()
	})
	return nil
}
