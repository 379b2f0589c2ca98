package main

import (
	"fmt"
	"log/slog"

	"github.com/vnetproject/vnet/core/metrics"
	"github.com/vnetproject/vnet/core/vnet"
	"github.com/vnetproject/vnet/core/vnet/vnetmetrics"
)

// upMetrics is `vnet up --metrics-addr`: VNet's metrics and their
// endpoint. A nil *upMetrics is no flag: its methods do nothing.
type upMetrics struct {
	m   *vnetmetrics.Metrics
	srv *metrics.Server
}

// startUpMetrics serves VNet's metrics at addr, a loopback address (they
// name the clusters this person uses; docs/metrics.md); nil when addr is
// empty. It runs before the TUN device exists, so that a bad or busy
// address changes nothing.
func startUpMetrics(addr string, log *slog.Logger) (*upMetrics, error) {
	if addr == "" {
		return nil, nil
	}
	if err := checkMetricsAddr(addr); err != nil {
		return nil, err
	}
	reg := metrics.NewRegistry()
	u := &upMetrics{m: vnetmetrics.New(reg)}
	srv, err := metrics.Listen(addr, reg, log)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	u.srv = srv
	log.Info("metrics endpoint", "url", "http://"+srv.Addr().String()+metrics.Path)
	return u, nil
}

// checkMetricsAddr refuses an address that is not loopback; `sudo vnet
// up` asks it before it changes anything, its engine serves the metrics.
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	if err := metrics.CheckLoopback(addr); err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	return nil
}

// engine is what vnet.Options.Metrics takes: nil without the flag.
func (u *upMetrics) engine() vnet.Metrics {
	if u == nil {
		return nil
	}
	return u.m
}

// follow makes the catalog's metrics follow r's status.
func (u *upMetrics) follow(r *vnet.Runner) {
	if u != nil {
		u.m.Follow(r.Status)
	}
}

// Close stops the endpoint.
func (u *upMetrics) Close() {
	if u != nil {
		u.srv.Close()
	}
}
