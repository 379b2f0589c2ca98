package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
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

// TestStorageEtcdSecurity: the TLS and password options reach the etcd
// configuration, and a mistake in them fails Parse with one line that
// names the option.
func TestStorageEtcdSecurity(t *testing.T) {
	const head = "proxy_service:\n  public_addr: proxy.example.test:3080\n"
	ca := etcdtest.NewCA(t)
	cert, key := ca.Issue(t, "vnet-proxy", false)
	password := filepath.Join(t.TempDir(), "etcd-password")
	if err := os.WriteFile(password, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	storage := func(fields string) string { return head + "storage: {type: etcd, " + fields + "}\n" }
	full := fmt.Sprintf("peers: [https://etcd.example.test:2379], tls_ca_file: %s, tls_cert_file: %s, tls_key_file: %s, username: vnet, password_file: %s", ca.File, cert, key, password)

	f, err := Parse([]byte(storage(full)))
	if err != nil {
		t.Fatal(err)
	}
	want := store.EtcdConfig{Peers: []string{"https://etcd.example.test:2379"}, Prefix: "/vnet/", CAFile: ca.File, CertFile: cert, KeyFile: key, Username: "vnet", PasswordFile: password}
	if got := f.Storage.Etcd(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Etcd() = %+v, want %+v", got, want)
	}

	tests := []struct {
		name, yaml, want string
	}{
		{"missing CA file", storage("peers: [https://a:2379], tls_ca_file: " + missing), "storage: etcd tls_ca_file: open " + missing},
		{"key without cert", storage("peers: [https://a:2379], tls_key_file: " + key), "storage: etcd tls_key_file: needs tls_cert_file"},
		{"TLS over http", storage("peers: [http://a:2379], tls_ca_file: " + ca.File), "storage: etcd tls_ca_file: TLS options need https:// peers"},
		{"password without username", storage("peers: [https://a:2379], password_file: " + password), "storage: etcd password_file: needs username"},
		{"password in clear", storage("peers: [http://a:2379], username: vnet, password_file: " + password), "in clear"},
		{"TLS for bolt", head + "storage: {tls_ca_file: " + ca.File + "}\n", "for type etcd only"},
		{"password for bolt", head + "storage: {type: bolt, username: vnet}\n", "for type etcd only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Parse = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}
