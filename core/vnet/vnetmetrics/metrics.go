// Package vnetmetrics is VNet's vnet.Metrics for Prometheus: DNS queries
// by outcome and their latency, client connections and their bytes, dial
// latency by outcome, tunnel reconnects, and each login's catalog (read
// from vnet.Status at each scrape). `vnet up --metrics-addr` serves it;
// the macOS bridge does not link it (core/fence). docs/metrics.md lists
// every metric.
package vnetmetrics

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vnetproject/vnet/core/metrics"
	"github.com/vnetproject/vnet/core/tunnel"
	"github.com/vnetproject/vnet/core/vnet"
)

// Dial outcomes.
const (
	DialConnected = "connected"
	DialRefused   = "refused"   // the app or the proxy refused (tunnel.ErrRefused, ErrLimit)
	DialNotFound  = "not_found" // the cluster has no such app
	DialDenied    = "denied"    // the user's roles do not reach the app
	DialTimeout   = "timeout"   // no answer within the dial timeout
	DialError     = "error"     // the cluster unreachable, the login expired, anything else
)

// DialOutcome is the outcome label of a dial that ended with err.
func DialOutcome(err error) string {
	switch {
	case err == nil:
		return DialConnected
	case errors.Is(err, tunnel.ErrRefused), errors.Is(err, tunnel.ErrLimit):
		return DialRefused
	case errors.Is(err, tunnel.ErrNotFound):
		return DialNotFound
	case errors.Is(err, tunnel.ErrDenied):
		return DialDenied
	case errors.Is(err, context.DeadlineExceeded):
		return DialTimeout
	}
	return DialError
}

// Metrics is a vnet.Metrics that Prometheus scrapes.
type Metrics struct {
	dnsQueries *prometheus.CounterVec
	dnsLatency *prometheus.HistogramVec
	conns      *metrics.Relays
	dials      *prometheus.HistogramVec
	reconnects *prometheus.CounterVec
	status     atomic.Pointer[func() vnet.Status] // nil until Follow
}

var _ vnet.Metrics = (*Metrics)(nil)

// dnsBuckets span an answer from the catalog (tens of microseconds) to
// an upstream at its timeout (vnet.DefaultUpstreamTimeout).
var dnsBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// New registers VNet's metrics in reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		dnsQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vnet_dns_queries_total",
			Help: "DNS queries answered, by outcome: answered (a name of VNet's), forwarded (answered upstream), failed (the upstream did not answer: SERVFAIL).",
		}, []string{"outcome"}),
		dnsLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vnet_dns_query_duration_seconds",
			Help:    "Time to answer a DNS query, by outcome: the catalog lookup for VNet's names, the upstream exchange for the rest.",
			Buckets: dnsBuckets,
		}, []string{"outcome"}),
		conns: metrics.NewRelays(reg, prometheus.GaugeOpts{
			Name: "vnet_connections_active",
			Help: "Client TCP connections being relayed to apps now.",
		}, prometheus.CounterOpts{
			Name: "vnet_connection_bytes_total",
			Help: "Bytes of ended client connections, by direction: sent (to the app) or received (from it).",
		}, "sent", "received"),
		dials: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vnet_dial_duration_seconds",
			Help:    "Time to reach an app through its cluster's proxy, by login (cluster: the proxy address) and outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"cluster", "outcome"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vnet_tunnel_reconnects_total",
			Help: "Times a login's connection to its proxy was ready again after it was lost, by login (cluster: the proxy address).",
		}, []string{"cluster"}),
	}
	reg.MustRegister(m.dnsQueries, m.dnsLatency, m.dials, m.reconnects, catalogCollector{m})
	for _, o := range []string{vnet.DNSAnswered, vnet.DNSForwarded, vnet.DNSFailed} {
		m.dnsQueries.WithLabelValues(o)
	}
	return m
}

// Follow makes the catalog's metrics read status at each scrape
// (vnet.Runner.Status).
func (m *Metrics) Follow(status func() vnet.Status) { m.status.Store(&status) }

// DNSQuery implements vnet.Metrics.
func (m *Metrics) DNSQuery(outcome string, d time.Duration) {
	m.dnsQueries.WithLabelValues(outcome).Inc()
	m.dnsLatency.WithLabelValues(outcome).Observe(d.Seconds())
}

// Dial implements vnet.Metrics.
func (m *Metrics) Dial(cluster string, err error, d time.Duration) {
	m.dials.WithLabelValues(cluster, DialOutcome(err)).Observe(d.Seconds())
}

// ConnOpened implements vnet.Metrics.
func (m *Metrics) ConnOpened() func(sent, received int64) { return m.conns.Start() }

// TunnelReady implements vnet.Metrics.
func (m *Metrics) TunnelReady(cluster string) { m.reconnects.WithLabelValues(cluster).Inc() }

// catalogCollector reports each login's catalog as vnet.Status has it.
type catalogCollector struct{ m *Metrics }

var (
	catalogConnected = prometheus.NewDesc("vnet_catalog_connected",
		"1 while a login's catalog watch is connected, else 0; by login (cluster: the proxy address) and the name its cluster reports.",
		[]string{"cluster", "name"}, nil)
	catalogUpdated = prometheus.NewDesc("vnet_catalog_updated_timestamp_seconds",
		"When a login's catalog last changed or was confirmed (Unix time); absent before the first.",
		[]string{"cluster", "name"}, nil)
	catalogAge = prometheus.NewDesc("vnet_catalog_age_seconds",
		"Seconds since a login's catalog last changed or was confirmed; absent before the first.",
		[]string{"cluster", "name"}, nil)
	catalogRevision = prometheus.NewDesc("vnet_catalog_revision",
		"The cluster's catalog revision in the last catalog a login's watch brought (the proxy's store revision); absent before the first, and from a proxy that sends none.",
		[]string{"cluster", "name"}, nil)
)

func (c catalogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- catalogConnected
	ch <- catalogUpdated
	ch <- catalogAge
	ch <- catalogRevision
}

func (c catalogCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.status.Load()
	if f == nil {
		return
	}
	now := time.Now()
	for _, cl := range (*f)().Clusters {
		connected := 0.0
		if cl.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(catalogConnected, prometheus.GaugeValue, connected, cl.ID, cl.Name)
		if !cl.Updated.IsZero() {
			ch <- prometheus.MustNewConstMetric(catalogUpdated, prometheus.GaugeValue, float64(cl.Updated.UnixNano())/1e9, cl.ID, cl.Name)
			ch <- prometheus.MustNewConstMetric(catalogAge, prometheus.GaugeValue, now.Sub(cl.Updated).Seconds(), cl.ID, cl.Name)
		}
		if cl.Revision > 0 {
			ch <- prometheus.MustNewConstMetric(catalogRevision, prometheus.GaugeValue, float64(cl.Revision), cl.ID, cl.Name)
		}
	}
}
