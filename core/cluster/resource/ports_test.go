package resource

import (
	"strings"
	"testing"
)

func TestMultiPortApps(t *testing.T) {
	const head = "kind: app\nversion: v1\nmetadata:\n  name: multi\nspec:\n"
	for _, tc := range []struct {
		name, spec, wantErr string
	}{
		{"ports and a range", "  uri: tcp://db.internal\n  tcp_ports:\n    - port: 5432\n    - port: 8000\n      end_port: 8010\n", ""},
		{"uri keeps its port", "  uri: tcp://db.internal:5432\n  tcp_ports: [{port: 5432}]\n", "spec.uri"},
		{"port zero", "  uri: tcp://db.internal\n  tcp_ports: [{port: 0}]\n", "spec.tcp_ports[0].port"},
		{"port too large", "  uri: tcp://db.internal\n  tcp_ports: [{port: 70000}]\n", "spec.tcp_ports[0].port"},
		{"end before start", "  uri: tcp://db.internal\n  tcp_ports: [{port: 10, end_port: 5}]\n", "spec.tcp_ports[0].end_port"},
		{"single-port app needs a port", "  uri: tcp://db.internal\n", "spec.uri"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head + tc.spec))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Parse = %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestAppTarget(t *testing.T) {
	single := AppSpec{URI: "tcp://db.internal:5432"}
	multi := AppSpec{URI: "tcp://db.internal", TCPPorts: []PortRange{{Port: 22}, {Port: 8000, EndPort: 8010}}}
	for _, tc := range []struct {
		name string
		spec AppSpec
		port uint16
		want string // "" = refused
	}{
		{"single-port: any port reaches the uri's port", single, 80, "db.internal:5432"},
		{"multi-port: a listed port", multi, 22, "db.internal:22"},
		{"multi-port: inside a range", multi, 8005, "db.internal:8005"},
		{"multi-port: range end is included", multi, 8010, "db.internal:8010"},
		{"multi-port: not listed", multi, 8011, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.spec.Target(tc.port)
			if (tc.want == "") == ok || got != tc.want {
				t.Fatalf("Target(%d) = %q, %v; want %q", tc.port, got, ok, tc.want)
			}
		})
	}
}
