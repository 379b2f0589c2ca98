package vnetmetrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/tunnel"
	"github.com/vnetproject/vnet/core/vnet"
)

func TestDialOutcome(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, DialConnected},
		{fmt.Errorf("dial x: %w: app down", tunnel.ErrRefused), DialRefused},
		{tunnel.ErrLimit, DialRefused},
		{fmt.Errorf("%w: no app", tunnel.ErrNotFound), DialNotFound},
		{fmt.Errorf("%w: roles", tunnel.ErrDenied), DialDenied},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), DialTimeout},
		{tunnel.ErrTransport, DialError},
		{errors.New("not logged in"), DialError},
	} {
		if got := DialOutcome(tt.err); got != tt.want {
			t.Errorf("DialOutcome(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestCounters: DNS queries count by outcome with their latency, dials by
// login and outcome, reconnects by login. (Connections: core/metrics's
// TestRelays.)
func TestCounters(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.DNSQuery(vnet.DNSAnswered, time.Millisecond)
	m.DNSQuery(vnet.DNSForwarded, 20*time.Millisecond)
	m.DNSQuery(vnet.DNSFailed, 3*time.Second)
	m.DNSQuery(vnet.DNSFailed, 3*time.Second)
	for outcome, want := range map[string]float64{vnet.DNSAnswered: 1, vnet.DNSForwarded: 1, vnet.DNSFailed: 2} {
		if got := testutil.ToFloat64(m.dnsQueries.WithLabelValues(outcome)); got != want {
			t.Errorf("dns queries{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.dnsLatency); n != 3 {
		t.Errorf("dns latency has %d series, want 3", n)
	}
	m.Dial("proxy.a:3080", nil, time.Millisecond)
	m.Dial("proxy.a:3080", tunnel.ErrRefused, time.Millisecond)
	if n := testutil.CollectAndCount(m.dials); n != 2 {
		t.Errorf("dials has %d series, want 2 (connected, refused)", n)
	}
	m.TunnelReady("proxy.a:3080")
	if got := testutil.ToFloat64(m.reconnects.WithLabelValues("proxy.a:3080")); got != 1 {
		t.Errorf("reconnects = %v, want 1", got)
	}
}

// TestCatalogFromStatus: each login's catalog is read from the status at
// scrape time; nothing before Follow, no age before a first catalog, a
// revision only from a proxy that sent one.
func TestCatalogFromStatus(t *testing.T) {
	m := New(prometheus.NewRegistry())
	c := catalogCollector{m}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("%d series before Follow, want 0", n)
	}
	m.Follow(func() vnet.Status {
		return vnet.Status{Clusters: []catalog.ClusterStatus{
			{ID: "proxy.a:3080", Name: "a", Connected: true, Updated: time.Now().Add(-time.Minute), Revision: 42},
			{ID: "proxy.b:3080", Name: "b"},
		}}
	})
	if n := testutil.CollectAndCount(c, "vnet_catalog_connected"); n != 2 {
		t.Errorf("vnet_catalog_connected has %d series, want 2", n)
	}
	if n := testutil.CollectAndCount(c, "vnet_catalog_age_seconds"); n != 1 {
		t.Errorf("vnet_catalog_age_seconds has %d series, want 1 (b has no catalog yet)", n)
	}
	want := `
# HELP vnet_catalog_revision The cluster's catalog revision in the last catalog a login's watch brought (the proxy's store revision); absent before the first, and from a proxy that sends none.
# TYPE vnet_catalog_revision gauge
vnet_catalog_revision{cluster="proxy.a:3080",name="a"} 42
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vnet_catalog_revision"); err != nil {
		t.Error(err)
	}
}
