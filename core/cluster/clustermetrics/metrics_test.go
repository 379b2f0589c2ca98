package clustermetrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vnetproject/vnet/core/api"
)

// TestDialCounters: each reason a dial is answered with counts under its
// outcome, and an unknown reason under internal, so that the label keeps
// its five documented values.
func TestDialCounters(t *testing.T) {
	m := New(prometheus.NewRegistry())
	for _, r := range []api.DialFailure{
		api.DialFailure_DIAL_FAILURE_UNSPECIFIED, api.DialFailure_DIAL_FAILURE_UNSPECIFIED,
		api.DialFailure_DIAL_FAILURE_REFUSED, api.DialFailure_DIAL_FAILURE_NOT_FOUND,
		api.DialFailure_DIAL_FAILURE_DENIED, api.DialFailure_DIAL_FAILURE_INTERNAL, api.DialFailure(99),
	} {
		m.Dial(r)
	}
	for outcome, want := range map[string]float64{
		OutcomeEstablished: 2, OutcomeRefused: 1, OutcomeNotFound: 1, OutcomeDenied: 1, OutcomeInternal: 2,
	} {
		if got := testutil.ToFloat64(m.dials.WithLabelValues(outcome)); got != want {
			t.Errorf("dials{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.dials); n != 5 {
		t.Errorf("dials has %d series, want 5", n)
	}
}

// TestLoginsAndGauges: failed logins count by method and reason; the
// connected gauges read what Follow gives. (Sessions: core/metrics's
// TestRelays.)
func TestLoginsAndGauges(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.LoginFailed(LoginPassword, LoginLimited)
	if got := testutil.ToFloat64(m.loginFailures.WithLabelValues(LoginPassword, LoginLimited)); got != 1 {
		t.Errorf("login failures = %v, want 1", got)
	}
	reg := prometheus.NewRegistry()
	m = New(reg)
	m.Follow(func() Gauges { return Gauges{Agents: 3, Leaves: 2, Watchers: 7} })
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP vnet_proxy_agents_connected App Service agents whose control stream is attached to this proxy.
# TYPE vnet_proxy_agents_connected gauge
vnet_proxy_agents_connected 3
# HELP vnet_proxy_catalog_watchers Users' catalog watches (WatchCatalog streams) open at this proxy.
# TYPE vnet_proxy_catalog_watchers gauge
vnet_proxy_catalog_watchers 7
# HELP vnet_proxy_leaves_connected Leaf clusters whose control stream is attached to this proxy.
# TYPE vnet_proxy_leaves_connected gauge
vnet_proxy_leaves_connected 2
`), "vnet_proxy_agents_connected", "vnet_proxy_leaves_connected", "vnet_proxy_catalog_watchers"); err != nil {
		t.Error(err)
	}
}

// TestNilCountsNothing: a proxy without metrics_addr has a nil *Proxy;
// every hook is then a no-op.
func TestNilCountsNothing(t *testing.T) {
	var m *Proxy
	m.Dial(api.DialFailure_DIAL_FAILURE_REFUSED)
	m.SessionStarted()(1, 2)
	m.LoginFailed(LoginToken, LoginRejected)
	m.Follow(func() Gauges { return Gauges{} })
	if m.UnaryInterceptor() == nil || m.StreamInterceptor() == nil {
		t.Fatal("nil interceptors")
	}
}
