package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vnetproject/vnet/core/metrics"
	"github.com/vnetproject/vnet/core/metrics/metricstest"
)

func TestCheckLoopback(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9464": "",
		"127.0.0.2:9464": "",
		"[::1]:9464":     "",
		"localhost:9464": "",
		"0.0.0.0:9464":   "not a loopback address",
		":9464":          "not a loopback address",
		"10.0.0.1:9464":  "not a loopback address",
		"127.0.0.1":      "not host:port",
	} {
		err := metrics.CheckLoopback(addr)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckLoopback(%q) = %v, want %q", addr, err, want)
		}
	}
}

// TestTwoEndpoints: each daemon has its own registry, so that two run in
// one process (as tests do) without sharing or clashing.
func TestTwoEndpoints(t *testing.T) {
	var urls []string
	for i := range 2 {
		reg := metrics.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."})
		reg.MustRegister(c)
		c.Add(float64(i + 1))
		srv, err := metrics.Listen("127.0.0.1:0", reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		urls = append(urls, "http://"+srv.Addr().String()+metrics.Path)
	}
	for i, url := range urls {
		got := metricstest.Scrape(t, url)
		if got["test_things_total"] != float64(i+1) {
			t.Errorf("endpoint %d: test_things_total = %v, want %d", i, got["test_things_total"], i+1)
		}
		if _, ok := got["go_goroutines"]; !ok {
			t.Errorf("endpoint %d: no go_goroutines: the Go collector is missing", i)
		}
	}
}
