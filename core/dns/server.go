package dns

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config.
const (
	DefaultMaxInFlight    = 256
	DefaultMaxTCPConns    = 64
	DefaultQueryTimeout   = 5 * time.Second
	DefaultTCPIdleTimeout = 10 * time.Second
)

// Config is what a Server needs.
type Config struct {
	// Resolver says which names are VNet's. Required.
	Resolver Resolver
	// Upstream answers the other names. Required.
	Upstream Upstream
	// MaxInFlight bounds the queries being handled at once, UDP and TCP
	// together. When it is reached UDP queries are dropped and TCP
	// queries wait. Default DefaultMaxInFlight.
	MaxInFlight int
	// MaxTCPConns bounds the open TCP connections; when it is reached the
	// server stops accepting until one closes. Default DefaultMaxTCPConns.
	MaxTCPConns int
	// QueryTimeout bounds forwarding one query as a safety net should an
	// Upstream not bound itself. It should exceed the
	// Forwarder's timeout. Default DefaultQueryTimeout.
	QueryTimeout time.Duration
	// TCPIdleTimeout closes a TCP connection that sends no complete query
	// for this long (RFC 7766 section 6.2.3). Default DefaultTCPIdleTimeout.
	TCPIdleTimeout time.Duration
	// Logger gets per-query failures at debug level. Default: discard.
	Logger *slog.Logger
}

// CheckAndSetDefaults validates c and fills in the defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.Resolver == nil {
		return errors.New("dns: Config.Resolver is required")
	}
	if c.Upstream == nil {
		return errors.New("dns: Config.Upstream is required")
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxTCPConns <= 0 {
		c.MaxTCPConns = DefaultMaxTCPConns
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server answers DNS queries over any number of UDP sockets and TCP
// listeners at once. Its methods are safe for concurrent use.
type Server struct {
	cfg Config // defaults set by NewServer; read-only afterwards

	querySlots chan struct{} // a token per query in flight; cap MaxInFlight
	connSlots  chan struct{} // a token per open TCP connection; cap MaxTCPConns

	ctx    context.Context // cancelled by Close; parent of every Serve context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool           // guarded by mu
	serving sync.WaitGroup // one per running Serve call; Add only under mu while !closed

	stats counters
}

// NewServer returns a Server for cfg. It serves nothing until ServeUDP or
// ServeTCP is called.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:        cfg,
		querySlots: make(chan struct{}, cfg.MaxInFlight),
		connSlots:  make(chan struct{}, cfg.MaxTCPConns),
		ctx:        ctx,
		cancel:     cancel,
	}, nil
}

// Close stops every Serve call and waits until they and the queries they
// were handling have finished. Serve calls made afterwards return
// ErrServerClosed. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.serving.Wait()
	return nil
}

// startServe registers a Serve call. The returned context ends with ctx or
// Close; done must be called when the Serve call returns.
func (s *Server) startServe(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrServerClosed
	}
	s.serving.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		s.serving.Done()
	}, nil
}

// Stats counts what the server has done since it was created.
type Stats struct {
	Queries   uint64 // queries handled (after parsing)
	Answered  uint64 // answered from the Resolver
	Forwarded uint64 // answered by the Upstream
	Failed    uint64 // answered SERVFAIL because the Upstream failed
	Dropped   uint64 // UDP queries dropped because MaxInFlight was reached
	Malformed uint64 // messages that could not be parsed, ignored
	InFlight  int    // queries being handled now
}

type counters struct {
	queries, answered, forwarded, failed, dropped, malformed atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Queries:   s.stats.queries.Load(),
		Answered:  s.stats.answered.Load(),
		Forwarded: s.stats.forwarded.Load(),
		Failed:    s.stats.failed.Load(),
		Dropped:   s.stats.dropped.Load(),
		Malformed: s.stats.malformed.Load(),
		InFlight:  len(s.querySlots),
	}
}
