package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vnetproject/vnet/core/metrics"
	"github.com/vnetproject/vnet/core/metrics/metricstest"
)

// TestRelays: a relay is active until it ends with its bytes; both
// directions exist at 0 from the start.
func TestRelays(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := metrics.NewRelays(reg, prometheus.GaugeOpts{Name: "test_active", Help: "Active."},
		prometheus.CounterOpts{Name: "test_bytes_total", Help: "Bytes."}, "out", "back")
	if got := metricstest.Values(t, reg); got[`test_bytes_total{direction="out"}`] != 0 || len(got) != 3 {
		t.Fatalf("at start: %v, want active and both directions at 0", got)
	}
	end1 := r.Start()
	end2 := r.Start()
	if got := metricstest.Values(t, reg)["test_active"]; got != 2 {
		t.Fatalf("active = %v with two running, want 2", got)
	}
	end1(100, 2000)
	end2(1, -5) // a relay that failed at once reports no negative bytes
	got := metricstest.Values(t, reg)
	for series, want := range map[string]float64{
		"test_active":                        0,
		`test_bytes_total{direction="out"}`:  101,
		`test_bytes_total{direction="back"}`: 2000,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	if n := testutil.CollectAndCount(reg, "test_bytes_total"); n != 2 {
		t.Errorf("test_bytes_total has %d series, want 2", n)
	}
}
