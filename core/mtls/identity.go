// Package mtls is one side of VNet's mutual TLS with a cluster: a
// certificate the cluster's CA issued, its private key, the CA, and the
// proxy to dial. A laptop's login (core/profile), an agent, a leaf
// cluster and a proxy dialing its peers each hold one; none of them needs
// the others' code, so this lives apart from both the laptop and the
// cluster.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"gopkg.in/yaml.v3"

	"github.com/vnetproject/vnet/core/atomicfile"
	"github.com/vnetproject/vnet/core/tunnel"
)

// Identity is who a machine or a user is to one cluster, and how to reach
// it.
type Identity struct {
	ProxyAddr   string `yaml:"proxy_addr"`   // host:port to dial
	ClusterName string `yaml:"cluster_name"` // the cluster's own name
	User        string `yaml:"user"`         // the certificate's subject

	CertPEM []byte `yaml:"-"` // certificate of the cluster CA
	KeyPEM  []byte `yaml:"-"` // private key of CertPEM
	CAPEM   []byte `yaml:"-"` // the cluster CA, pinned when the identity was issued
}

// The files of an identity's folder. A laptop's profile is the same
// folder with more fields in MetaFile; the names, and the word "profile"
// in errors, are what agents' data directories and users already know.
const (
	MetaFile = "profile.yaml"
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
	CAFile   = "ca.pem"
)

// Save writes id into dir (see SaveMeta).
func Save(dir string, id *Identity) error { return SaveMeta(dir, id, id) }

// SaveMeta writes id's certificate, key and CA into dir, and meta (id, or
// a struct holding id's fields and more) as MetaFile. Keys are written
// with mode 0600 and the folder with 0700.
func SaveMeta(dir string, id *Identity, meta any) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	y, err := yaml.Marshal(meta)
	if err != nil {
		return err
	}
	// Each file is replaced whole (atomicfile). MetaFile goes last: Load
	// needs it, so a first save cut short leaves no identity rather than
	// one without its key.
	for _, f := range []struct {
		name string
		data []byte
	}{{CAFile, id.CAPEM}, {KeyFile, id.KeyPEM}, {CertFile, id.CertPEM}, {MetaFile, y}} {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return fmt.Errorf("save profile %s: %w", dir, err)
		}
	}
	return nil
}

// Load reads the identity stored in dir.
func Load(dir string) (*Identity, error) {
	id := &Identity{}
	if err := LoadMeta(dir, id, id); err != nil {
		return nil, err
	}
	return id, nil
}

// LoadMeta reads dir's certificate, key and CA into id, and its MetaFile
// into meta.
func LoadMeta(dir string, id *Identity, meta any) error {
	y, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(y, meta); err != nil {
		return fmt.Errorf("profile %s: %w", dir, err)
	}
	for name, dst := range map[string]*[]byte{CertFile: &id.CertPEM, KeyFile: &id.KeyPEM, CAFile: &id.CAPEM} {
		if *dst, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("profile %s: %w", dir, err)
		}
	}
	return nil
}

// Expires is when the certificate stops being accepted.
func (id *Identity) Expires() (time.Time, error) {
	block, _ := pem.Decode(id.CertPEM)
	if block == nil {
		return time.Time{}, errors.New("profile has no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return cert.NotAfter, nil
}

// TLSConfig is the client side of mutual TLS with the identity's cluster:
// the proxy must present a certificate of the pinned CA, and we present
// ours.
func (id *Identity) TLSConfig() (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(id.CAPEM) {
		return nil, fmt.Errorf("profile for %s has no valid CA certificate", id.ProxyAddr)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ServerName: hostOf(id.ProxyAddr)}
	if len(id.CertPEM) > 0 {
		cert, err := tls.X509KeyPair(id.CertPEM, id.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("profile for %s: %w", id.ProxyAddr, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Dial opens the one gRPC connection to the identity's cluster that
// carries every call and every tunnelled app connection. It connects
// lazily.
func (id *Identity) Dial() (*grpc.ClientConn, error) {
	cfg, err := id.TLSConfig()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("passthrough:///"+id.ProxyAddr,
		// TLS records of one flush in one write(2) (coalesce.go).
		grpc.WithTransportCredentials(Coalescing(credentials.NewTLS(cfg))),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// A fixed window per stream bounds what each tunnelled
		// connection queues here (window.go).
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
		// HTTP/2 data frames are read into buffers that are not zeroed
		// first (tunnel.GRPCBufferPool says why that is safe).
		experimental.WithBufferPool(tunnel.GRPCBufferPool),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", id.ProxyAddr, err)
	}
	return conn, nil
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
