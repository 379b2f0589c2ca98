package daemon

import (
	"fmt"
	"net"

	"github.com/vnetproject/vnet/core/cluster/clustermetrics"
	"github.com/vnetproject/vnet/core/metrics"
)

// startMetrics opens proxy_service.metrics_addr's endpoint and returns
// the proxy's metrics; nil, and no endpoint, when it is not set. It runs
// before the proxy is made, so that an address in use stops the start.
func (d *Daemon) startMetrics() (*clustermetrics.Proxy, error) {
	addr := d.cfg.Proxy.MetricsAddr
	if addr == "" {
		return nil, nil
	}
	reg := metrics.NewRegistry()
	m := clustermetrics.New(reg)
	srv, err := metrics.Listen(addr, reg, d.log)
	if err != nil {
		return nil, fmt.Errorf("proxy_service.metrics_addr: %w", err)
	}
	d.metrics = srv
	d.log.Info("metrics endpoint", "url", "http://"+srv.Addr().String()+metrics.Path)
	return m, nil
}

// MetricsAddr is where the metrics endpoint listens; nil without
// proxy_service.metrics_addr.
func (d *Daemon) MetricsAddr() net.Addr {
	if d.metrics == nil {
		return nil
	}
	return d.metrics.Addr()
}
