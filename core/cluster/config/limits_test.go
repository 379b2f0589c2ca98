package config

import (
	"strings"
	"testing"
)

// TestProxyServiceLimits: the proxy's stream and message limits are read
// and checked (issue 10); 0 leaves the proxy's defaults.
func TestProxyServiceLimits(t *testing.T) {
	const base = "proxy_service: {public_addr: proxy.example.test:3080"
	for _, tt := range []struct {
		name, yaml string
		want       ProxyService
		err        string
	}{
		{name: "defaults", yaml: base + "}\n"},
		{name: "set", yaml: base + ", max_streams_per_user: 64, max_streams_per_connection: 128, max_message_bytes: 1048576}\n",
			want: ProxyService{MaxStreamsPerUser: 64, MaxStreamsPerConnection: 128, MaxMessageBytes: 1 << 20}},
		{name: "negative streams per user", yaml: base + ", max_streams_per_user: -1}\n", err: "proxy_service.max_streams_per_user: -1 is out of range"},
		{name: "too many streams per connection", yaml: base + ", max_streams_per_connection: 2000000}\n", err: "proxy_service.max_streams_per_connection: 2000000 is out of range"},
		{name: "message smaller than a tunnel frame", yaml: base + ", max_message_bytes: 1024}\n", err: "proxy_service.max_message_bytes: 1024 is out of range"},
		{name: "message too large", yaml: base + ", max_message_bytes: 1073741824}\n", err: "proxy_service.max_message_bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v; want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ProxyService{MaxStreamsPerUser: f.Proxy.MaxStreamsPerUser, MaxStreamsPerConnection: f.Proxy.MaxStreamsPerConnection, MaxMessageBytes: f.Proxy.MaxMessageBytes}
			if got != tt.want {
				t.Errorf("limits = %+v, want %+v", got, tt.want)
			}
		})
	}
}
