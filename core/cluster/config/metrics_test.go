package config

import (
	"strings"
	"testing"
)

// TestProxyServiceMetricsAddr: metrics_addr is off unless set, and a bad
// one is refused with one line that names it, before anything starts.
func TestProxyServiceMetricsAddr(t *testing.T) {
	const base = "proxy_service: {public_addr: proxy.example.test:3080, listen_addr: '0.0.0.0:3080'"
	for _, tt := range []struct {
		name, yaml string
		want       string
		err        string
	}{
		{name: "off by default", yaml: base + "}\n"},
		{name: "set", yaml: base + ", metrics_addr: '10.0.0.1:9090'}\n", want: "10.0.0.1:9090"},
		{name: "any free port", yaml: base + ", metrics_addr: '127.0.0.1:0'}\n", want: "127.0.0.1:0"},
		{name: "two free ports", yaml: "proxy_service: {public_addr: proxy.example.test:3080, listen_addr: '127.0.0.1:0', metrics_addr: '127.0.0.1:0'}\n", want: "127.0.0.1:0"},
		{name: "no port", yaml: base + ", metrics_addr: '10.0.0.1'}\n", err: `proxy_service.metrics_addr: "10.0.0.1" is not host:port`},
		{name: "service name", yaml: base + ", metrics_addr: '127.0.0.1:http-alt'}\n", err: `the port "http-alt" is not a number`},
		{name: "port too large", yaml: base + ", metrics_addr: '127.0.0.1:70000'}\n", err: `the port "70000" is not a number`},
		{name: "listen_addr itself", yaml: base + ", metrics_addr: '0.0.0.0:3080'}\n", err: "is listen_addr too"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Parse = %v; want one line containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Proxy.MetricsAddr != tt.want {
				t.Errorf("metrics_addr = %q, want %q", f.Proxy.MetricsAddr, tt.want)
			}
		})
	}
}
