package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"

	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// DefaultDataDir is where an agent keeps its identity unless agent.yaml
// says otherwise.
const DefaultDataDir = "/var/lib/vnet-agent"

var pinRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// File is agent.yaml:
//
//	version: v1
//	proxy_addr: proxy.example.test:3080
//	join_token: 5f1c...            # or token_file: /etc/vnet/agent-token
//	ca_pin: sha256:...             # from 'vnet ctl status'
//	data_dir: /var/lib/vnet-agent  # the agent's identity, after the first start
//	app_service:                   # as in cluster.yaml
//	  enabled: true
//	  apps:
//	    - name: tcp-app
//	      uri: tcp://localhost:5432
//	      public_addr: tcp-app.company.test
//
// The token and pin are needed for the first start only: the agent then
// keeps the certificate it got in data_dir.
type File struct {
	Version   string            `yaml:"version"`
	ProxyAddr string            `yaml:"proxy_addr"`
	JoinToken string            `yaml:"join_token"`
	TokenFile string            `yaml:"token_file"`
	CAPin     string            `yaml:"ca_pin"`
	DataDir   string            `yaml:"data_dir"`
	Apps      config.AppService `yaml:"app_service"`
}

// LoadConfig reads and validates the file at path.
func LoadConfig(path string) (*File, error) {
	f := &File{}
	if err := config.LoadInto(path, f); err != nil {
		return nil, err
	}
	return f, nil
}

// ParseConfig reads and validates agent.yaml contents.
func ParseConfig(data []byte) (*File, error) {
	f := &File{}
	if err := config.ParseInto(data, f); err != nil {
		return nil, err
	}
	return f, nil
}

// CheckAndSetDefaults validates f and fills in defaults.
func (f *File) CheckAndSetDefaults() error {
	if f.Version == "" {
		f.Version = "v1"
	}
	if f.Version != "v1" {
		return fmt.Errorf("version: %q is not supported, use v1", f.Version)
	}
	if f.ProxyAddr == "" {
		return errors.New("proxy_addr: required (host:port of the cluster's proxy)")
	}
	if host, _, err := net.SplitHostPort(f.ProxyAddr); err != nil || host == "" {
		return fmt.Errorf("proxy_addr: %q is not host:port", f.ProxyAddr)
	}
	if f.JoinToken != "" && f.TokenFile != "" {
		return errors.New("join_token and token_file: give one, not both")
	}
	if f.CAPin != "" && !pinRE.MatchString(f.CAPin) {
		return fmt.Errorf("ca_pin: %q is not sha256: and 64 hex digits (see 'vnet ctl status')", f.CAPin)
	}
	if f.DataDir == "" {
		f.DataDir = DefaultDataDir
	}
	if _, err := f.Apps.Resources(); err != nil {
		return err
	}
	return nil
}

// AppResources is what the agent serves.
func (f *File) AppResources() ([]*resource.App, error) { return f.Apps.Resources() }

// Token is the join token from join_token or token_file; "" if neither.
func (f *File) Token() (string, error) {
	if f.TokenFile == "" {
		return f.JoinToken, nil
	}
	data, err := os.ReadFile(f.TokenFile)
	if err != nil {
		return "", fmt.Errorf("token_file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
