package agent

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/mtls"
)

// identityDir is where in data_dir the agent keeps its certificate, key and
// the cluster's CA (an mtls.Identity, in the files of a laptop's profile).
const identityDir = "identity"

// LoadOrJoin returns the agent's identity from its data directory or, on
// the first start, joins the cluster with the join token (trusting the
// proxy's CA by ca_pin) and saves the identity. Later starts reuse it and
// need no token.
func LoadOrJoin(ctx context.Context, cfg *File) (*mtls.Identity, error) {
	dir := cfg.IdentityDir()
	if p, err := mtls.Load(dir); err == nil {
		p.ProxyAddr = cfg.ProxyAddr // the identity is the cluster's; any proxy will do
		if err := checkIdentity(p, dir, time.Now()); err != nil {
			return nil, err
		}
		if _, err := p.TLSConfig(); err != nil {
			return nil, fmt.Errorf("agent identity: %w (remove %s and join again with a new token)", err, dir)
		}
		return p, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("agent identity: %w (remove %s to join again)", err, dir)
	}
	token, err := cfg.Token()
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fmt.Errorf("no identity in %s yet: give join_token or token_file (from 'vnet ctl tokens add --type=app') for the first start", dir)
	}
	if cfg.CAPin == "" {
		return nil, errors.New("ca_pin: required to join (the pin 'vnet ctl status' shows): without it the agent cannot know it talks to your cluster")
	}
	p, err := join(ctx, cfg.ProxyAddr, token, cfg.CAPin)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := mtls.Save(dir, p); err != nil {
		return nil, err
	}
	return p, nil
}

// IdentityDir is where in data_dir the agent keeps its identity.
func (f *File) IdentityDir() string { return filepath.Join(f.DataDir, identityDir) }

// join redeems token at the proxy for an agent certificate over a fresh key.
func join(ctx context.Context, proxyAddr, token, pin string) (*mtls.Identity, error) {
	conn, trustedCA, err := mtls.DialPinned(proxyAddr, func(got string) error {
		if got != pin {
			return fmt.Errorf("the proxy's CA pin is %s, not ca_pin %s: check proxy_addr and ca_pin", got, pin)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	key, err := mtls.NewKey()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	res, err := api.NewAgentClient(conn).Join(ctx, &api.JoinRequest{Token: token, PublicKey: key.PubDER, HostName: host})
	if err != nil {
		return nil, fmt.Errorf("join the cluster at %s: %w", proxyAddr, err)
	}
	ca := trustedCA()
	if ca == nil {
		return nil, errors.New("join: the TLS handshake was not verified")
	}
	return &mtls.Identity{
		ProxyAddr:   proxyAddr,
		ClusterName: res.GetClusterName(),
		User:        auth.AgentUserPrefix + res.GetAgentId(),
		CertPEM:     res.GetCertificatePem(),
		KeyPEM:      key.PEM,
		CAPEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
	}, nil
}
