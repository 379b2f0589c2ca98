package config

import (
	"strings"
	"testing"
)

func TestStorageAndPeerAddr(t *testing.T) {
	const head = "proxy_service:\n  public_addr: proxy.example.test:3080\n"
	tests := []struct {
		name       string
		yaml       string
		wantErr    string
		wantType   string
		wantPrefix string
	}{
		{name: "default is bolt", yaml: head, wantType: "bolt"},
		{name: "bolt", yaml: head + "storage: {type: bolt}\n", wantType: "bolt"},
		{name: "etcd with default prefix", yaml: head + "storage: {type: etcd, peers: [\"http://127.0.0.1:2379\"]}\n", wantType: "etcd", wantPrefix: "/vnet/"},
		{name: "etcd with prefix", yaml: head + "storage: {type: etcd, peers: [\"https://a:2379\", \"https://b:2379\"], prefix: /team/}\n", wantType: "etcd", wantPrefix: "/team/"},
		{name: "etcd without peers", yaml: head + "storage: {type: etcd}\n", wantErr: "storage: etcd: at least one peer"},
		{name: "etcd peer without scheme", yaml: head + "storage: {type: etcd, peers: [\"127.0.0.1:2379\"]}\n", wantErr: "client URL"},
		{name: "etcd relative prefix", yaml: head + "storage: {type: etcd, peers: [\"http://a:1\"], prefix: vnet}\n", wantErr: "must start with '/'"},
		{name: "bolt with peers", yaml: head + "storage: {peers: [\"http://a:1\"]}\n", wantErr: "for type etcd only"},
		{name: "unknown type", yaml: head + "storage: {type: consul}\n", wantErr: `storage.type: "consul"`},
		{name: "unknown field", yaml: head + "storage: {tpye: etcd}\n", wantErr: "tpye"},
		{name: "peer_addr", yaml: head + "  peer_addr: 10.0.0.1:3080\n", wantType: "bolt"},
		{name: "bad peer_addr", yaml: head + "  peer_addr: 10.0.0.1\n", wantErr: "proxy_service.peer_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Parse = %v, want one line containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Storage.Type != tt.wantType || f.Storage.Prefix != tt.wantPrefix {
				t.Fatalf("storage = %+v, want type %s prefix %q", f.Storage, tt.wantType, tt.wantPrefix)
			}
		})
	}
}
