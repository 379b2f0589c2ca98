package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
	"github.com/vnetproject/vnet/core/cluster/store/storetest"
)

// tlsConfig is the configuration of a client holding srv's client
// certificate.
func tlsConfig(srv *etcdtest.Server, prefix string) store.EtcdConfig {
	return store.EtcdConfig{
		Peers:    []string{srv.URL},
		Prefix:   prefix,
		CAFile:   srv.CA.File,
		CertFile: srv.CertFile,
		KeyFile:  srv.KeyFile,
	}
}

// TestEtcdConformanceTLS runs the suite against an etcd that serves
// clients only over TLS with a client certificate.
func TestEtcdConformanceTLS(t *testing.T) {
	srv := etcdtest.StartTLS(t)
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		s, err := store.OpenEtcd(context.Background(), tlsConfig(srv, fmt.Sprintf("/conformance/%d/", n)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestEtcdTLSRefusals: a client that cannot prove itself to the etcd, or
// that cannot verify the etcd, does not get a store; the right
// configuration does.
func TestEtcdTLSRefusals(t *testing.T) {
	srv := etcdtest.StartTLS(t)
	strangerCert, strangerKey := etcdtest.NewCA(t).Issue(t, etcdtest.ClientName, false)
	// A short dial timeout for refusals: each waits for it to pass.
	const dial = 3 * time.Second
	tests := []struct {
		name   string
		mutate func(c *store.EtcdConfig)
		want   string // the hint of a refusal; "" if the store opens
	}{
		{"the right client", func(c *store.EtcdConfig) {}, ""},
		{"a name in the server's certificate", func(c *store.EtcdConfig) { c.Peers = []string{strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} }, ""},
		{"no client certificate", func(c *store.EtcdConfig) { c.CertFile, c.KeyFile = "", "" }, "the server wants a client certificate"},
		{"client certificate of another CA", func(c *store.EtcdConfig) { c.CertFile, c.KeyFile = strangerCert, strangerKey }, "the server refused tls_cert_file"},
		{"server's CA not given (system roots)", func(c *store.EtcdConfig) { c.CAFile = "" }, "set tls_ca_file"},
		{"another CA given", func(c *store.EtcdConfig) { c.CAFile = etcdtest.NewCA(t).File }, "tls_ca_file is not the CA"},
		{"plain HTTP", func(c *store.EtcdConfig) {
			*c = store.EtcdConfig{Peers: []string{"http://" + strings.TrimPrefix(srv.URL, "https://")}, DialTimeout: dial}
		}, "use https:// peers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tlsConfig(srv, "/refusals/")
			if tt.want != "" {
				cfg.DialTimeout = dial
			}
			tt.mutate(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := store.OpenEtcd(ctx, cfg)
			if tt.want != "" {
				if err == nil {
					s.Close()
					t.Fatal("OpenEtcd succeeded, want a refusal")
				}
				if msg := err.Error(); !strings.Contains(msg, "connect to etcd "+cfg.Peers[0]) || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
					t.Fatalf("OpenEtcd = %v, want one line naming the peer and containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Put(ctx, "/k", []byte("v")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEtcdPassword: with etcd authentication on, the user and password
// from password_file get the store under the user's prefix; a wrong
// password, or the client certificate alone, get nothing.
func TestEtcdPassword(t *testing.T) {
	srv := etcdtest.StartTLS(t)
	srv.EnableAuth(t, "vnet", "s3cret pass", "/vnet/")
	dir := t.TempDir()
	passwordFile := func(pw string) string {
		f, err := os.CreateTemp(dir, "password")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(pw); err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cfg := tlsConfig(srv, "/vnet/")
	cfg.Username, cfg.PasswordFile = "vnet", passwordFile("s3cret pass\n")
	s, err := store.OpenEtcd(ctx, cfg)
	if err != nil {
		t.Fatalf("the right password: %v", err)
	}
	defer s.Close()
	if err := s.Create(ctx, "/auth/ca", []byte("key")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		mutate func(c *store.EtcdConfig)
		want   string
	}{
		{"wrong password", func(c *store.EtcdConfig) { c.PasswordFile = passwordFile("guess") }, "authentication failed"},
		{"client certificate alone", func(c *store.EtcdConfig) { c.Username, c.PasswordFile = "", "" }, "permission denied"},
		{"outside the user's prefix", func(c *store.EtcdConfig) { c.Prefix = "/other/" }, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			tt.mutate(&c)
			other, err := store.OpenEtcd(ctx, c)
			if err == nil {
				// OpenEtcd reads the prefix; a refused read of a key
				// fails too.
				_, err = other.Get(ctx, "/auth/ca")
				other.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, tt.want)
			}
			if errors.Is(err, store.ErrNotFound) {
				t.Fatalf("got %v: a refusal must not look like a missing key", err)
			}
		})
	}
}

// TestEtcdSecurityOptionErrors: each mistake in the TLS and password
// options is one line that names the option, before any connection.
func TestEtcdSecurityOptionErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := etcdtest.NewCA(t)
	cert, key := ca.Issue(t, "client", false)
	otherCert, _ := ca.Issue(t, "other", false)
	missing := filepath.Join(dir, "missing.pem")
	notPEM := write("not.pem", "hello\n")
	password := write("password", "pw\n")
	empty := write("empty", "\n")
	const https, http = "https://etcd.example.test:2379", "http://etcd.example.test:2379"
	tests := []struct {
		name string
		cfg  store.EtcdConfig
		want string // "" for a valid configuration
	}{
		{"https with everything", store.EtcdConfig{Peers: []string{https}, CAFile: ca.File, CertFile: cert, KeyFile: key, Username: "u", PasswordFile: password}, ""},
		{"https with system roots", store.EtcdConfig{Peers: []string{https}}, ""},
		{"password over loopback http", store.EtcdConfig{Peers: []string{"http://127.0.0.1:2379", "http://localhost:2379", "http://[::1]:2379"}, Username: "u", PasswordFile: password}, ""},
		{"mixed schemes", store.EtcdConfig{Peers: []string{https, http}}, "use https:// for every peer"},
		{"CA over http", store.EtcdConfig{Peers: []string{http}, CAFile: ca.File}, "tls_ca_file: TLS options need https:// peers"},
		{"client cert over http", store.EtcdConfig{Peers: []string{http}, CertFile: cert, KeyFile: key}, "tls_cert_file: TLS options need https:// peers"},
		{"missing CA file", store.EtcdConfig{Peers: []string{https}, CAFile: missing}, "tls_ca_file: open " + missing},
		{"CA file without a certificate", store.EtcdConfig{Peers: []string{https}, CAFile: notPEM}, "tls_ca_file " + notPEM + ": no PEM certificate"},
		{"cert without key", store.EtcdConfig{Peers: []string{https}, CertFile: cert}, "tls_cert_file: needs tls_key_file"},
		{"key without cert", store.EtcdConfig{Peers: []string{https}, KeyFile: key}, "tls_key_file: needs tls_cert_file"},
		{"missing cert file", store.EtcdConfig{Peers: []string{https}, CertFile: missing, KeyFile: key}, "tls_cert_file: stat " + missing},
		{"missing key file", store.EtcdConfig{Peers: []string{https}, CertFile: cert, KeyFile: missing}, "tls_key_file: stat " + missing},
		{"key of another certificate", store.EtcdConfig{Peers: []string{https}, CertFile: otherCert, KeyFile: key}, "does not match"},
		{"password without username", store.EtcdConfig{Peers: []string{https}, PasswordFile: password}, "password_file: needs username"},
		{"username without password", store.EtcdConfig{Peers: []string{https}, Username: "u"}, "username: needs password_file"},
		{"missing password file", store.EtcdConfig{Peers: []string{https}, Username: "u", PasswordFile: missing}, "password_file: open " + missing},
		{"empty password", store.EtcdConfig{Peers: []string{https}, Username: "u", PasswordFile: empty}, "password_file " + empty + ": empty"},
		{"password in clear", store.EtcdConfig{Peers: []string{http}, Username: "u", PasswordFile: password}, "cross the network in clear to " + http},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckAndSetDefaults()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("CheckAndSetDefaults = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}
