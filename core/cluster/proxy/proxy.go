// Package proxy is the cluster's Proxy Service: the one TLS endpoint that
// VNet and the admin CLI talk to. It authenticates every call by client
// certificate against one policy table (policy.go), serves the catalog
// and administration, and tunnels app connections; each of those is a
// part of Server (see Server).
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
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"

	"github.com/vnetproject/vnet/core/cluster/appcache"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustermetrics"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/tunnel"
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
	// Metrics counts what the proxy does (metrics.go); nil: nothing.
	Metrics *clustermetrics.Proxy
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

// Server is a running proxy: one gRPC server whose interceptors check
// every call against the policy table (policy.go) and whose services
// (services.go) call into parts with one job each, wired in New:
//
//   - catalog (catalog.go, watch.go): what a user sees, their vnet_config,
//     the apps their roles reach and the leaves' catalogs, and the watch
//     that streams it;
//   - agents (agents.go, agentservice.go, agentadmin.go, agenthub.go,
//     registry.go, peer.go): App Service agents' control streams, their
//     apps' registrations, reverse dials through them and forwarding
//     between proxies;
//   - leaves (leaves.go, leafadmin.go, leafclaims.go): leaf clusters'
//     control streams, their catalogs and dials, their trust;
//   - admin (admin.go, tokens.go): resources, users, tokens, the audit log;
//   - tunnels (tunnel.go, route.go): a user's dial, authorized, routed,
//     audited and relayed.
//
// They share the sessions open at this proxy (sessions.go), the audit
// emitter (audit.go), role checks (rbac.go) and the proxy's lifetime.
// The agent and the leaf control streams run one loop (control.go).
type Server struct {
	cfg     Config
	grpc    *grpc.Server
	life    *life
	once    sync.Once
	streams streamLimiter // each user's open streams (limits.go)

	sessions *sessionSet
	catalog  *catalog
	agents   *agents
	leaves   *leaves
	admin    *admin
	tunnels  *tunnels
}

// life is the proxy's lifetime as its parts share it.
type life struct {
	ctx  context.Context // ends when the proxy closes
	stop context.CancelFunc
	wg   sync.WaitGroup // goroutines Close waits for: relays, loops
}

// spawn runs f in a goroutine that Close waits for.
func (l *life) spawn(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
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
	peers, err := newPeerPool(cfg.Auth.CA(), cfg.ClusterName, cfg.PeerAddr, cfg.Auth.MachineCertTTL())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, life: &life{}, streams: streamLimiter{max: cfg.MaxStreamsPerUser}}
	s.life.ctx, s.life.stop = context.WithCancel(context.Background())
	s.wire(peers)
	s.grpc = grpc.NewServer(
		// conncreds.go; a flush's TLS records in one write(2) (mtls.Coalescing)
		grpc.Creds(connCreds{mtls.Coalescing(credentials.NewTLS(tlsCfg))}),
		grpc.ChainUnaryInterceptor(cfg.Metrics.UnaryInterceptor(), s.unaryAuth),
		grpc.ChainStreamInterceptor(cfg.Metrics.StreamInterceptor(), s.streamAuth),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// Fixed HTTP/2 windows: BDP estimation would cost every small
		// request a PING and its answer (window.go).
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		grpc.MaxConcurrentStreams(uint32(cfg.MaxStreamsPerConnection)),
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
		// HTTP/2 data frames are read into buffers that are not zeroed
		// first (tunnel.GRPCBufferPool says why that is safe).
		experimental.BufferPool(tunnel.GRPCBufferPool),
	)
	s.register()
	s.followGauges() // metrics.go
	s.life.spawn(s.agents.sweepLoop)
	s.life.spawn(s.sessions.recheckLoop)
	return s, nil
}

// wire makes the parts, each with the few dependencies it uses.
func (s *Server) wire(peers *peerPool) {
	cfg := s.cfg
	s.sessions = &sessionSet{log: cfg.Logger, auth: cfg.Auth, state: cfg.State, life: s.life}
	emit := &auditor{cluster: cfg.ClusterName, log: cfg.Logger, sink: cfg.Audit}
	recs := &records{state: cfg.State} // the apps and roles of dials (records.go)
	roles := &rbac{cluster: cfg.ClusterName, state: cfg.State, records: recs, auth: cfg.Auth}
	// One copy of the catalog's resources for every watcher, following
	// the store's changes for as long as the proxy lives.
	cache := appcache.New(cfg.Store, cfg.ClusterName, cfg.PublicAddr, cfg.Logger)
	s.life.spawn(func() { cache.Run(s.life.ctx) })
	if m, ok := cfg.Store.(*store.Mirror); ok {
		// While the store is down the apps are read from this cache,
		// not from a second copy of every app in the store's mirror.
		s.life.spawn(func() {
			if cache.Ready(s.life.ctx) == nil {
				m.Delegate(appcache.AppsPrefix, cache.Items())
			}
		})
	}
	hub := newAgentHub()
	agentApps := cache.Track(isAgentApp) // the sweep's, every heartbeat
	s.agents = &agents{
		cluster: cfg.ClusterName, heartbeat: cfg.AgentHeartbeat, dialTimeout: cfg.DialTimeout,
		log: cfg.Logger, auth: cfg.Auth, state: cfg.State, life: s.life,
		audit: emit, sessions: s.sessions, hub: hub, peers: peers,
		registry: &registry{
			store: cfg.Store, state: cfg.State, self: cfg.PeerAddr,
			proxyHost: resource.ProxyHost(cfg.PublicAddr),
			ttl:       missedBeats * cfg.AgentHeartbeat, now: time.Now,
			agent: cfg.Auth.GetAgent, cached: func() []*resource.App { return cache.SubsetApps(agentApps) },
		},
	}
	s.leaves = &leaves{
		cluster: cfg.ClusterName, publicAddr: cfg.PublicAddr,
		heartbeat: cfg.AgentHeartbeat, dialTimeout: cfg.DialTimeout,
		log: cfg.Logger, auth: cfg.Auth, state: cfg.State, life: s.life,
		audit: emit, sessions: s.sessions, rbac: roles, dials: hub, metrics: cfg.Metrics, cache: cache,
	}
	s.catalog = &catalog{
		cluster: cfg.ClusterName, publicAddr: cfg.PublicAddr,
		auth: cfg.Auth, state: cfg.State, rbac: roles, cache: cache, store: cfg.Store,
		leaves: s.leaves, sessions: s.sessions, life: s.life,
	}
	s.admin = &admin{
		log: cfg.Logger, auth: cfg.Auth, state: cfg.State, auditLog: cfg.Audit, audit: emit,
		rbac: roles, sessions: s.sessions, agents: s.agents, leaves: s.leaves, cache: cache,
	}
	s.tunnels = &tunnels{
		cluster: cfg.ClusterName, dialTimeout: cfg.DialTimeout, dialApp: cfg.DialApp,
		log: cfg.Logger, apps: recs, rbac: roles, audit: emit, sessions: s.sessions, life: s.life,
		agents: s.agents, leaves: s.leaves, metrics: cfg.Metrics,
	}
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
		s.life.stop()
		s.grpc.Stop()
		s.life.wg.Wait()
	})
	return nil
}
