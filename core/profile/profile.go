// Package profile stores what a login to a cluster leaves on the laptop (the
// proxy address, the user's key and certificate, the cluster's CA) and
// dials the cluster with it.
package profile

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/vnetproject/vnet/core/mtls"
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

// The files of a profile's folder: an mtls identity's, with the profile's
// own fields in metaFile.
const (
	metaFile = mtls.MetaFile
	certFile = mtls.CertFile
	keyFile  = mtls.KeyFile
	caFile   = mtls.CAFile
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
	return mtls.SaveMeta(dir, p.Identity(), p)
}

// Load reads the profile stored in dir.
func Load(dir string) (*Profile, error) {
	p := &Profile{}
	id := &mtls.Identity{}
	if err := mtls.LoadMeta(dir, id, p); err != nil {
		return nil, err
	}
	p.CertPEM, p.KeyPEM, p.CAPEM = id.CertPEM, id.KeyPEM, id.CAPEM
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

// Identity is what the profile presents and trusts in mutual TLS with its
// cluster.
func (p *Profile) Identity() *mtls.Identity {
	return &mtls.Identity{ProxyAddr: p.ProxyAddr, ClusterName: p.ClusterName, User: p.User, CertPEM: p.CertPEM, KeyPEM: p.KeyPEM, CAPEM: p.CAPEM}
}

// Expires is when the profile's certificate stops being accepted.
func (p *Profile) Expires() (time.Time, error) { return p.Identity().Expires() }

// TLSConfig is the client side of mutual TLS with the profile's cluster:
// the proxy must present a certificate of the pinned CA, and we present
// the user's.
func (p *Profile) TLSConfig() (*tls.Config, error) { return p.Identity().TLSConfig() }
