// Package profile stores what a login to a cluster leaves on the laptop (the
// proxy address, the user's key and certificate, the cluster's CA) and
// dials the cluster with it.
package profile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vnetproject/vnet/core/atomicfile"
)

// Profile is one login: a user of a cluster reached through a proxy.
type Profile struct {
	ProxyAddr   string   `yaml:"proxy_addr"`   // host:port the client dials
	ClusterName string   `yaml:"cluster_name"` // the cluster's own name
	User        string   `yaml:"user"`
	Roles       []string `yaml:"roles,omitempty"`
	// FirstLogin is when this laptop first logged in to the proxy; kept
	// across re-logins. Clusters logged in to first own contested names
	// and ranges (LoadAll's order). Zero: a profile from before it was
	// recorded, older than any that has it.
	FirstLogin time.Time `yaml:"first_login,omitempty"`

	CertPEM []byte `yaml:"-"` // client certificate
	KeyPEM  []byte `yaml:"-"` // private key of CertPEM
	CAPEM   []byte `yaml:"-"` // the cluster CA, pinned at first login
}

const (
	metaFile = "profile.yaml"
	certFile = "cert.pem"
	keyFile  = "key.pem"
	caFile   = "ca.pem"
)

// ErrNoProfiles means the user has not logged in anywhere.
var ErrNoProfiles = errors.New("not logged in to any cluster: run 'vnet login --proxy=HOST:PORT --user=NAME' first")

// Home is where profiles live: $VNET_HOME, or ~/.vnet of the user who ran
// sudo (so that 'sudo vnet up' finds the invoking user's logins), or ~/.vnet.
func Home() string {
	if h := os.Getenv("VNET_HOME"); h != "" {
		return h
	}
	if su := os.Getenv("SUDO_USER"); su != "" && os.Geteuid() == 0 {
		if u, err := user.Lookup(su); err == nil {
			return filepath.Join(u.HomeDir, ".vnet")
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".vnet")
	}
	return ".vnet"
}

// Dir is the folder of the profile for proxyAddr under home:
// profiles/<host> for the default port 3080, profiles/<host>_<port> for
// another, so that two proxies on one host are two profiles (a profile is
// known by its whole proxy address, ID).
func Dir(home, proxyAddr string) string {
	host, port, err := net.SplitHostPort(proxyAddr)
	if err != nil {
		host, port = proxyAddr, DefaultPort
	}
	if port != DefaultPort {
		host += "_" + port
	}
	return filepath.Join(home, "profiles", host)
}

// DefaultPort is the proxy's port when an address leaves it out.
const DefaultPort = "3080"

// ID is who the profile's cluster is on this laptop: its proxy address.
// Never the name the cluster reports, which another cluster may report too.
func (p *Profile) ID() string { return p.ProxyAddr }

// Save writes p under home; an earlier profile for the same proxy is
// replaced.
func Save(home string, p *Profile) error { return SaveDir(Dir(home, p.ProxyAddr), p) }

// SaveDir writes p into dir. Keys are written with mode 0600 and the folder
// with 0700. A p without FirstLogin keeps the one saved in dir before, or
// gets the current time.
func SaveDir(dir string, p *Profile) error {
	if p.FirstLogin.IsZero() {
		p.FirstLogin = time.Now().UTC()
		if old, err := Load(dir); err == nil && old.ProxyAddr == p.ProxyAddr {
			p.FirstLogin = old.FirstLogin
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	meta, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	// Each file is replaced whole (atomicfile). profile.yaml goes last:
	// Load needs it, so a first save cut short leaves no profile rather
	// than one without its key.
	for _, f := range []struct {
		name string
		data []byte
	}{{caFile, p.CAPEM}, {keyFile, p.KeyPEM}, {certFile, p.CertPEM}, {metaFile, meta}} {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return fmt.Errorf("save profile %s: %w", dir, err)
		}
	}
	return nil
}

// Load reads the profile stored in dir.
func Load(dir string) (*Profile, error) {
	meta, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	p := &Profile{}
	if err := yaml.Unmarshal(meta, p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", dir, err)
	}
	for name, dst := range map[string]*[]byte{certFile: &p.CertPEM, keyFile: &p.KeyPEM, caFile: &p.CAPEM} {
		if *dst, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("profile %s: %w", dir, err)
		}
	}
	return p, nil
}

// LoadAll reads every profile under home in login order: by first login,
// then (for profiles that did not record it) by proxy address. The order
// decides who owns a name or a range that two clusters claim.
// ErrNoProfiles if there is none.
func LoadAll(home string) ([]*Profile, error) {
	entries, err := os.ReadDir(filepath.Join(home, "profiles"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var out []*Profile
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p, err := Load(filepath.Join(home, "profiles", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, ErrNoProfiles
	}
	Sort(out)
	return out, nil
}

// Expires is when the profile's certificate stops being accepted.
func (p *Profile) Expires() (time.Time, error) {
	block, _ := pem.Decode(p.CertPEM)
	if block == nil {
		return time.Time{}, errors.New("profile has no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return cert.NotAfter, nil
}

// TLSConfig is the client side of mutual TLS with the profile's cluster:
// the proxy must present a certificate of the pinned CA, and we present
// the user's.
func (p *Profile) TLSConfig() (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.CAPEM) {
		return nil, fmt.Errorf("profile for %s has no valid CA certificate", p.ProxyAddr)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ServerName: hostOf(p.ProxyAddr)}
	if len(p.CertPEM) > 0 {
		cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("profile for %s: %w", p.ProxyAddr, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
