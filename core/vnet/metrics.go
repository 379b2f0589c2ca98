package vnet

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/vnetproject/vnet/core/dns"
)

// Metrics is what the engine reports as it works, for an exporter:
// core/vnet/vnetmetrics serves it to Prometheus for `vnet up
// --metrics-addr` (docs/metrics.md). The interface keeps the exporter out
// of the engine's imports, so that the macOS bridge, which exports
// nothing, links none of it. Its methods are called on the DNS and
// connection paths: they must be quick and safe for concurrent use.
type Metrics interface {
	// DNSQuery: a query was answered with outcome (DNSAnswered,
	// DNSForwarded, DNSFailed), taking d: the lookup in the catalog for
	// VNet's names, the upstream exchange for the others.
	DNSQuery(outcome string, d time.Duration)
	// Dial: a client connection's dial of an app through cluster (the
	// login's ID, its proxy address) ended with err (nil: connected)
	// after d.
	Dial(cluster string, err error, d time.Duration)
	// ConnOpened: a client connection is being relayed to its app; closed
	// ends it with the bytes sent to the app and received from it.
	ConnOpened() (closed func(sent, received int64))
	// TunnelReady: cluster's connection to its proxy is ready again
	// after it was lost (not its first connection).
	TunnelReady(cluster string)
}

// DNS query outcomes (Metrics.DNSQuery).
const (
	DNSAnswered  = "answered"  // a name of VNet's, answered from the catalog
	DNSForwarded = "forwarded" // another name, answered by the upstream (any rcode)
	DNSFailed    = "failed"    // another name the upstream did not answer: SERVFAIL
)

// timedResolver reports the queries its Resolver answers.
type timedResolver struct {
	dns.Resolver
	m Metrics
}

func (r timedResolver) Resolve(ctx context.Context, name string, qtype uint16) (dns.Answer, bool) {
	start := time.Now()
	ans, ok := r.Resolver.Resolve(ctx, name, qtype)
	if ok {
		r.m.DNSQuery(DNSAnswered, time.Since(start))
	}
	return ans, ok
}

// dnsSources are the Resolver and Upstream the DNS server asks: timed
// when the engine has Metrics. The Upstream is timed by dns.Timed, which
// keeps the usual forwarded query on the wire (core/dns/forward_wire.go).
func (e *Engine) dnsSources() (dns.Resolver, dns.Upstream) {
	m := e.cfg.Metrics
	if m == nil {
		return resolver{e}, e.upstream
	}
	return timedResolver{resolver{e}, m}, dns.Timed(e.upstream, func(failed bool, d time.Duration) {
		outcome := DNSForwarded
		if failed {
			outcome = DNSFailed
		}
		m.DNSQuery(outcome, d)
	})
}

// nopMetrics is the engine's Metrics when it has none.
type nopMetrics struct{}

func (nopMetrics) DNSQuery(string, time.Duration)    {}
func (nopMetrics) Dial(string, error, time.Duration) {}
func (nopMetrics) ConnOpened() func(int64, int64)    { return func(int64, int64) {} }
func (nopMetrics) TunnelReady(string)                {}

// reportReconnects tells m each time conn (cluster's connection to its
// proxy) is ready again after its first time. It returns when conn is
// closed.
func reportReconnects(conn *grpc.ClientConn, cluster string, m Metrics) {
	ready := false
	for s := conn.GetState(); s != connectivity.Shutdown; s = conn.GetState() {
		if s == connectivity.Ready {
			if ready {
				m.TunnelReady(cluster)
			}
			ready = true
		}
		conn.WaitForStateChange(context.Background(), s)
	}
}

// SetMetrics makes c report each login's reconnects to m, from now on
// and for logins added later. Call it once, before Follow.
func (c *Clusters) SetMetrics(m Metrics) {
	if m == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.metrics = m
	for _, l := range c.order {
		go reportReconnects(l.conn, l.profile.ID(), m)
	}
}

// watchReconnects reports the reconnects of a new login's conn, if c
// has metrics.
func (c *Clusters) watchReconnects(conn *grpc.ClientConn, id string) {
	c.mu.Lock()
	m := c.metrics
	c.mu.Unlock()
	if m != nil {
		go reportReconnects(conn, id, m)
	}
}
