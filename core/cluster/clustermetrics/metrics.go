// Package clustermetrics is what a cluster's proxy counts for Prometheus:
// dials by outcome, open sessions and their bytes, connected agents and
// leaf clusters, catalog watchers, failed logins and the latency of every
// RPC. The proxy calls it at a few points; a nil *Proxy counts nothing,
// so a proxy without metrics_addr pays nothing. docs/metrics.md lists
// every metric.
package clustermetrics

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/metrics"
)

// Dial outcomes: a dial is established or fails for one of
// api.DialFailure's reasons.
const (
	OutcomeEstablished = "established"
	OutcomeRefused     = "refused"
	OutcomeNotFound    = "not_found"
	OutcomeDenied      = "denied"
	OutcomeInternal    = "internal"
)

// Login failure reasons.
const (
	LoginRejected = "rejected" // wrong user, password or token
	LoginLimited  = "limited"  // too many failures for the user or the address
	LoginBusy     = "busy"     // too many password checks at once
)

// Login methods.
const (
	LoginToken    = "token"
	LoginPassword = "password"
)

// Gauges are the proxy's counts of what is connected now, read at each
// scrape.
type Gauges struct {
	Agents   int // App Service agents with a control stream here
	Leaves   int // leaf clusters with a control stream here
	Watchers int // users' catalog watches open here
}

// Proxy holds the proxy's metrics. Its methods are safe for concurrent
// use and do nothing on a nil *Proxy.
type Proxy struct {
	dials         *prometheus.CounterVec
	sessions      *metrics.Relays
	loginFailures *prometheus.CounterVec
	rpc           *prometheus.HistogramVec
	gauges        atomic.Pointer[func() Gauges] // nil until Follow
}

// New registers the proxy's metrics in reg.
func New(reg prometheus.Registerer) *Proxy {
	m := &Proxy{
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vnet_proxy_dials_total",
			Help: "Users' dials of apps, by outcome: established, or why they failed (refused, not_found, denied, internal).",
		}, []string{"outcome"}),
		sessions: metrics.NewRelays(reg, prometheus.GaugeOpts{
			Name: "vnet_proxy_sessions_active",
			Help: "App sessions (established dials) being relayed now.",
		}, prometheus.CounterOpts{
			Name: "vnet_proxy_session_bytes_total",
			Help: "Bytes relayed by ended app sessions, by direction: to_app (from the user) or from_app.",
		}, "to_app", "from_app"),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vnet_proxy_login_failures_total",
			Help: "Failed logins, by method (token, password) and reason (rejected, limited, busy).",
		}, []string{"method", "reason"}),
		rpc: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vnet_proxy_rpc_duration_seconds",
			Help:    "Time to serve a gRPC call, by full method and status code; for a stream, its whole life.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "code"}),
	}
	gauge := func(name, help string, f func(Gauges) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if g := m.gauges.Load(); g != nil {
				return float64(f((*g)()))
			}
			return 0
		})
	}
	reg.MustRegister(m.dials, m.loginFailures, m.rpc,
		gauge("vnet_proxy_agents_connected", "App Service agents whose control stream is attached to this proxy.", func(g Gauges) int { return g.Agents }),
		gauge("vnet_proxy_leaves_connected", "Leaf clusters whose control stream is attached to this proxy.", func(g Gauges) int { return g.Leaves }),
		gauge("vnet_proxy_catalog_watchers", "Users' catalog watches (WatchCatalog streams) open at this proxy.", func(g Gauges) int { return g.Watchers }),
	)
	// Every label value a dashboard looks for exists from the start, at 0.
	for _, o := range []string{OutcomeEstablished, OutcomeRefused, OutcomeNotFound, OutcomeDenied, OutcomeInternal} {
		m.dials.WithLabelValues(o)
	}
	for _, method := range []string{LoginToken, LoginPassword} {
		for _, r := range []string{LoginRejected, LoginLimited, LoginBusy} {
			m.loginFailures.WithLabelValues(method, r)
		}
	}
	return m
}

// Follow makes the connected gauges read f at each scrape.
func (m *Proxy) Follow(f func() Gauges) {
	if m != nil {
		m.gauges.Store(&f)
	}
}

// DialOutcome is the outcome label of a dial answered with reason;
// DIAL_FAILURE_UNSPECIFIED is a success. An unknown reason counts as
// internal, so that the label's values stay the five documented.
func DialOutcome(reason api.DialFailure) string {
	switch reason {
	case api.DialFailure_DIAL_FAILURE_UNSPECIFIED:
		return OutcomeEstablished
	case api.DialFailure_DIAL_FAILURE_REFUSED:
		return OutcomeRefused
	case api.DialFailure_DIAL_FAILURE_NOT_FOUND:
		return OutcomeNotFound
	case api.DialFailure_DIAL_FAILURE_DENIED:
		return OutcomeDenied
	}
	return OutcomeInternal
}

// Dial counts a dial answered with reason (DIAL_FAILURE_UNSPECIFIED:
// established).
func (m *Proxy) Dial(reason api.DialFailure) {
	if m != nil {
		m.dials.WithLabelValues(DialOutcome(reason)).Inc()
	}
}

// SessionStarted counts a session being relayed; the function it returns
// ends it with the bytes relayed each way.
func (m *Proxy) SessionStarted() (ended func(toApp, fromApp int64)) {
	if m == nil {
		return func(int64, int64) {}
	}
	return m.sessions.Start()
}

// LoginFailed counts a failed login by method (LoginToken,
// LoginPassword) and reason (LoginRejected, ...).
func (m *Proxy) LoginFailed(method, reason string) {
	if m != nil {
		m.loginFailures.WithLabelValues(method, reason).Inc()
	}
}

// UnaryInterceptor times unary calls; it goes first in the chain, so that
// calls the policy refuses are timed too.
func (m *Proxy) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m == nil {
			return handler(ctx, req)
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		m.observe(info.FullMethod, err, start)
		return resp, err
	}
}

// StreamInterceptor times streams from their start to their end.
func (m *Proxy) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if m == nil {
			return handler(srv, ss)
		}
		start := time.Now()
		err := handler(srv, ss)
		m.observe(info.FullMethod, err, start)
		return err
	}
}

func (m *Proxy) observe(method string, err error, start time.Time) {
	code := status.Code(err)
	// A handler that returns a bare context error: say what it was.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		code = status.FromContextError(err).Code()
	}
	m.rpc.WithLabelValues(method, code.String()).Observe(time.Since(start).Seconds())
}
