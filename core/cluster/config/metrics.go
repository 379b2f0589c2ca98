package config

import (
	"fmt"
	"net"
	"strconv"
)

// checkMetricsAddr validates proxy_service.metrics_addr: empty (no
// endpoint) or host:port with a numeric port (0: any free one, for
// tests), and not listen_addr itself (two port 0s are two free ports). Any host may be given: operators
// scrape from their Prometheus; docs/metrics.md says to keep it on a
// private network.
func (p *ProxyService) checkMetricsAddr() error {
	if p.MetricsAddr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(p.MetricsAddr)
	if err != nil {
		return fmt.Errorf("proxy_service.metrics_addr: %q is not host:port", p.MetricsAddr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("proxy_service.metrics_addr: %q: the port %q is not a number from 0 to 65535", p.MetricsAddr, port)
	}
	if p.MetricsAddr == p.ListenAddr && port != "0" {
		return fmt.Errorf("proxy_service.metrics_addr: %q is listen_addr too: give the metrics a port of their own", p.MetricsAddr)
	}
	return nil
}
