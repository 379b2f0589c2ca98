// Package config reads cluster.yaml, the file that describes one cluster
// process: its name, its data directory, its proxy and its static apps.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// DefaultPath is where `vnet cluster start` and `vnet ctl` look without
// --config.
const DefaultPath = "/etc/vnet/cluster.yaml"

// File is cluster.yaml.
type File struct {
	Version     string       `yaml:"version"`
	ClusterName string       `yaml:"cluster_name"` // default: the host of proxy_service.public_addr
	DataDir     string       `yaml:"data_dir"`     // default /var/lib/vnet
	Proxy       ProxyService `yaml:"proxy_service"`
	Apps        AppService   `yaml:"app_service"`
	Storage     Storage      `yaml:"storage"`
	Auth        AuthService  `yaml:"auth_service"`
}

// AuthService tunes the Auth Service.
type AuthService struct {
	// CertTTL is how long a user's client certificate is valid: between
	// 1m and 720h; 0 means the Auth Service's default (12h). Shorter means
	// a stolen certificate is useful for less time, and more logins.
	CertTTL time.Duration `yaml:"cert_ttl"`
	// MachineCertTTL is how long the certificates of agents, leaf
	// clusters and the proxies' peer identities are valid: between 5s
	// and 24h; 0 means 24h. Machines renew theirs at two thirds of its
	// life; an agent offline past its end joins again with a new token.
	MachineCertTTL time.Duration `yaml:"machine_cert_ttl"`
	// AuditRetention is how long audit events are kept: at least 1h; 0
	// means 90 days. Older events are deleted in the background.
	AuditRetention time.Duration `yaml:"audit_retention"`
}

// Bounds of auth_service.cert_ttl and machine_cert_ttl.
const (
	minCertTTL = time.Minute
	maxCertTTL = 30 * 24 * time.Hour
	// A machine certificate of seconds only makes sense in tests; the
	// upper bound is auth.MaxMachineCertTTL.
	minMachineCertTTL = 5 * time.Second
	maxMachineCertTTL = 24 * time.Hour
)

// Storage is where the cluster's state lives: the embedded database in
// data_dir (type bolt, the default) or etcd, which several proxy processes
// can share.
type Storage struct {
	Type   string   `yaml:"type"`   // bolt (default) or etcd
	Peers  []string `yaml:"peers"`  // etcd client URLs, e.g. https://10.0.0.1:2379
	Prefix string   `yaml:"prefix"` // etcd key prefix; default /vnet/
	// etcd over TLS (https:// peers): the CA of the servers' certificates
	// (default: the system's roots), and a client certificate and key.
	TLSCAFile   string `yaml:"tls_ca_file"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// etcd authentication: a user and the file holding its password.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// Storage types.
const (
	StorageBolt = "bolt"
	StorageEtcd = "etcd"
)

// CheckAndSetDefaults validates s and fills in defaults.
func (s *Storage) CheckAndSetDefaults() error {
	switch s.Type {
	case "", StorageBolt:
		s.Type = StorageBolt
		if len(s.Peers) > 0 || s.Prefix != "" || s.TLSCAFile != "" || s.TLSCertFile != "" || s.TLSKeyFile != "" || s.Username != "" || s.PasswordFile != "" {
			return errors.New("storage: peers, prefix, tls_*, username and password_file are for type etcd only")
		}
		return nil
	case StorageEtcd:
		cfg := s.Etcd()
		if err := cfg.CheckAndSetDefaults(); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		s.Prefix = cfg.Prefix
		return nil
	default:
		return fmt.Errorf("storage.type: %q is not supported, use %s or %s", s.Type, StorageBolt, StorageEtcd)
	}
}

// Etcd is the etcd client configuration of an etcd storage section.
func (s *Storage) Etcd() store.EtcdConfig {
	return store.EtcdConfig{
		Peers:        s.Peers,
		Prefix:       s.Prefix,
		CAFile:       s.TLSCAFile,
		CertFile:     s.TLSCertFile,
		KeyFile:      s.TLSKeyFile,
		Username:     s.Username,
		PasswordFile: s.PasswordFile,
	}
}

// ProxyService is where the proxy listens and how users reach it.
type ProxyService struct {
	ListenAddr string `yaml:"listen_addr"` // default 0.0.0.0:3080
	PublicAddr string `yaml:"public_addr"` // host:port users dial; required
	// PeerAddr is the host:port the other proxies of the cluster (sharing
	// its etcd) dial to reach this one, for apps whose agent is connected
	// here. Default: listen_addr, with loopback for an unspecified host.
	PeerAddr string `yaml:"peer_addr"`
	// AgentHeartbeat is how often agents heartbeat (default 5s). Not in
	// the file: tests shorten it.
	AgentHeartbeat time.Duration `yaml:"-"`
	// MaxStreamsPerUser bounds the streams (tunnels and catalog watches)
	// one user may have open at this proxy at once; past it a new one is
	// refused with a message naming this setting. 0: 1024.
	MaxStreamsPerUser int `yaml:"max_streams_per_user"`
	// MaxStreamsPerConnection is the HTTP/2 limit of concurrent streams
	// on one connection (users', agents', leaves', peer proxies'); a
	// client past it waits. 0: 16384.
	MaxStreamsPerConnection int `yaml:"max_streams_per_connection"`
	// MaxMessageBytes is the largest message a client may send. 0: 4 MiB.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MetricsAddr is the host:port of the Prometheus endpoint (/metrics,
	// plain HTTP, docs/metrics.md). Empty: none.
	MetricsAddr string `yaml:"metrics_addr"`
}

// Bounds of proxy_service's limits (0 means the default).
const (
	maxStreamsBound    = 1 << 20
	minMessageBytes    = 256 << 10 // above a tunnel frame (128 KiB, core/tunnel) and its envelope
	maxMessageBytesCap = 64 << 20
)

// checkLimits validates proxy_service's limits.
func (p *ProxyService) checkLimits() error {
	if n := p.MaxStreamsPerUser; n < 0 || n > maxStreamsBound {
		return fmt.Errorf("proxy_service.max_streams_per_user: %d is out of range: use 1 to %d (0 means 1024)", n, maxStreamsBound)
	}
	if n := p.MaxStreamsPerConnection; n < 0 || n > maxStreamsBound {
		return fmt.Errorf("proxy_service.max_streams_per_connection: %d is out of range: use 1 to %d (0 means 16384)", n, maxStreamsBound)
	}
	if n := p.MaxMessageBytes; n != 0 && (n < minMessageBytes || n > maxMessageBytesCap) {
		return fmt.Errorf("proxy_service.max_message_bytes: %d is out of range: use %d to %d (0 means 4 MiB)", n, minMessageBytes, maxMessageBytesCap)
	}
	return nil
}

// AppService lists apps this process serves itself.
type AppService struct {
	Enabled bool        `yaml:"enabled"`
	Apps    []StaticApp `yaml:"apps"`
}

// StaticApp is an app in the config file (the same fields as an app
// resource, flattened).
type StaticApp struct {
	Name       string               `yaml:"name"`
	URI        string               `yaml:"uri"`
	PublicAddr string               `yaml:"public_addr"`
	Labels     map[string]string    `yaml:"labels"`
	TCPPorts   []resource.PortRange `yaml:"tcp_ports"`
}

// defaultDataDir is data_dir when cluster.yaml has none.
const defaultDataDir = "/var/lib/vnet"

// Load reads and validates the file at path.
func Load(path string) (*File, error) {
	f := &File{}
	if err := LoadInto(path, f); err != nil {
		return nil, err
	}
	return f, nil
}

// Parse reads and validates cluster.yaml contents.
func Parse(data []byte) (*File, error) {
	f := &File{}
	if err := ParseInto(data, f); err != nil {
		return nil, err
	}
	return f, nil
}

// Checked is a configuration file that validates itself.
type Checked interface{ CheckAndSetDefaults() error }

// LoadInto reads the YAML file at path into v and validates it; errors
// name the file. cluster.yaml and agent.yaml are read this way.
func LoadInto(path string, v Checked) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := ParseInto(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ParseInto decodes YAML into v, refusing unknown fields, an empty file
// and a second document, and validates it; every error is one line in
// the file's own words (no Go type names).
func ParseInto(data []byte, v Checked) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("the file is empty: see docs/config.md for an example")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the file holds no settings, only comments: see docs/config.md for an example")
		}
		return yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) && (err != nil || !emptyDocument(&next)) {
		// A second document would be read by nobody: refuse it rather
		// than start with half the file.
		return errors.New("the file holds more than one YAML document ('---'): put all settings in one")
	}
	return v.CheckAndSetDefaults()
}

// emptyDocument reports whether n is a document with nothing in it (a
// trailing "---").
func emptyDocument(n *yaml.Node) bool {
	return len(n.Content) == 0 || (len(n.Content) == 1 && n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null")
}

// CheckAndSetDefaults validates f and fills in defaults.
func (f *File) CheckAndSetDefaults() error {
	if f.Version == "" {
		f.Version = "v1"
	}
	if f.Version != "v1" {
		return fmt.Errorf("version: %q is not supported, use v1", f.Version)
	}
	if ttl := f.Auth.CertTTL; ttl != 0 && (ttl < minCertTTL || ttl > maxCertTTL) {
		return fmt.Errorf("auth_service.cert_ttl: %v is out of range: use %v to %v", ttl, minCertTTL, maxCertTTL)
	}
	if ttl := f.Auth.MachineCertTTL; ttl != 0 && (ttl < minMachineCertTTL || ttl > maxMachineCertTTL) {
		return fmt.Errorf("auth_service.machine_cert_ttl: %v is out of range: use %v to %v", ttl, minMachineCertTTL, maxMachineCertTTL)
	}
	if r := f.Auth.AuditRetention; r != 0 && r < time.Hour {
		return fmt.Errorf("auth_service.audit_retention: %v is too short: use 1h or more (0 keeps 90 days)", r)
	}
	if f.DataDir == "" {
		f.DataDir = defaultDataDir
	}
	if f.Proxy.ListenAddr == "" {
		f.Proxy.ListenAddr = "0.0.0.0:3080"
	}
	// listen_addr may take port 0 (any free port: tests); the host, if
	// any, must be an address of this machine's kind (an IP or a name).
	if _, err := CheckHostPort(f.Proxy.ListenAddr, true); err != nil {
		return fmt.Errorf("proxy_service.listen_addr: %w", err)
	}
	if f.Proxy.PublicAddr == "" {
		return errors.New("proxy_service.public_addr: required (host:port users dial)")
	}
	host, err := CheckHostPort(f.Proxy.PublicAddr, false)
	if err == nil && host == "" {
		err = fmt.Errorf("%q has no host", f.Proxy.PublicAddr)
	}
	if err != nil {
		return fmt.Errorf("proxy_service.public_addr: %w", err)
	}
	if f.ClusterName == "" {
		f.ClusterName = host
	}
	if f.Proxy.PeerAddr != "" {
		host, err := CheckHostPort(f.Proxy.PeerAddr, false)
		if err == nil && host == "" {
			err = fmt.Errorf("%q has no host", f.Proxy.PeerAddr)
		}
		if err != nil {
			return fmt.Errorf("proxy_service.peer_addr: %w", err)
		}
	}
	if err := f.Proxy.checkLimits(); err != nil {
		return err
	}
	if err := f.Proxy.checkMetricsAddr(); err != nil {
		return err
	}
	if err := f.Storage.CheckAndSetDefaults(); err != nil {
		return err
	}
	apps, err := f.StaticApps()
	if err != nil {
		return err
	}
	// One address, one app: a later entry may not take an earlier one's
	// (a config error, so the daemon does not start). The earlier ones
	// are found by address: a hundred thousand apps are checked at once.
	proxyHost := resource.ProxyHost(f.Proxy.PublicAddr)
	byAddr := map[string][]*resource.App{}
	for i, app := range apps {
		addr := app.Addr(proxyHost)
		if err := resource.CheckAddrFree(app, byAddr[addr], proxyHost); err != nil {
			return fmt.Errorf("app_service.apps[%d]: %w", i, err)
		}
		byAddr[addr] = append(byAddr[addr], app)
	}
	return nil
}

// StaticApps returns app_service.apps as validated app resources, marked
// as defined here (origin: config); none when the App Service is
// disabled.
func (f *File) StaticApps() ([]*resource.App, error) {
	apps, err := f.Apps.Resources()
	for _, a := range apps {
		a.Metadata.Origin = resource.OriginConfig
	}
	return apps, err
}

// Resources returns the apps as validated app resources; none when the
// App Service is disabled. Errors name the app by its path
// (app_service.apps[1]).
func (a *AppService) Resources() ([]*resource.App, error) {
	if !a.Enabled {
		return nil, nil
	}
	seen := map[string]bool{}
	var out []*resource.App
	for i, sa := range a.Apps {
		app := resource.NewApp(sa.Name, sa.URI, sa.PublicAddr, sa.Labels)
		app.Spec.TCPPorts = sa.TCPPorts
		if err := app.CheckAndSetDefaults(); err != nil {
			return nil, fmt.Errorf("app_service.apps[%d]: %w", i, err)
		}
		if err := app.CheckNew(); err != nil {
			return nil, fmt.Errorf("app_service.apps[%d]: %w", i, err)
		}
		if seen[app.Name()] {
			return nil, fmt.Errorf("app_service.apps[%d]: app %q is listed twice", i, app.Name())
		}
		seen[app.Name()] = true
		out = append(out, app)
	}
	return out, nil
}

// DialableAddr is an address a local process can dial to reach a listener
// bound to listenAddr: an unspecified host is replaced by loopback.
func DialableAddr(listenAddr string) string {
	host, port, _ := net.SplitHostPort(listenAddr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// NoAppsReason says why a config serves no app, or "" when it serves
// some: an agent says so at start.
func (a *AppService) NoAppsReason() string {
	switch {
	case !a.Enabled && len(a.Apps) > 0:
		return fmt.Sprintf("app_service.enabled is not true: its %d app(s) are not served", len(a.Apps))
	case !a.Enabled:
		return "app_service.enabled is not true and app_service.apps is empty"
	case len(a.Apps) == 0:
		return "app_service.apps is empty"
	}
	return ""
}
