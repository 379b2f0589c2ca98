package profile

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// Login learns the cluster's CA from the TLS handshake, lets trust decide
// whether its pin ("sha256:...") is the right one, checks the proxy's
// certificate against that CA, and exchanges the one-time token for a
// client certificate over a fresh key. The returned profile is not saved.
func Login(ctx context.Context, proxyAddr, user, token string, trust func(pin string) error) (*Profile, error) {
	return LoginWith(ctx, proxyAddr, user, Credentials{Token: token}, trust)
}

// Credentials prove who logs in: a one-time token (optionally with the
// password to set for later logins) or a password.
type Credentials struct {
	Token       string
	NewPassword string // with Token only
	Password    string
}

// LoginWith is Login with a token or a password.
func LoginWith(ctx context.Context, proxyAddr, user string, cred Credentials, trust func(pin string) error) (*Profile, error) {
	host, _, err := net.SplitHostPort(proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy address %q: %w", proxyAddr, err)
	}
	var ca *x509.Certificate
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The CA is not known yet: VerifyConnection checks the chain
		// against the CA the server presents, once trust accepts its pin.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain := cs.PeerCertificates
			if len(chain) < 2 || !chain[len(chain)-1].IsCA {
				return errors.New("the proxy did not present its cluster CA: is this a VNet proxy?")
			}
			root := chain[len(chain)-1]
			if err := trust(auth.Pin(root)); err != nil {
				return err
			}
			pool := x509.NewCertPool()
			pool.AddCert(root)
			if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
				return fmt.Errorf("proxy certificate: %w", err)
			}
			ca = root
			return nil
		},
	}
	conn, err := grpc.NewClient("passthrough:///"+proxyAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	req := &api.LoginRequest{User: user, PublicKey: key.PubDER, NewPassword: cred.NewPassword}
	if cred.Token != "" {
		req.Secret = &api.LoginRequest_Token{Token: cred.Token}
	} else {
		req.Secret = &api.LoginRequest_Password{Password: cred.Password}
	}
	res, err := api.NewAuthClient(conn).Login(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("login to %s: %w", proxyAddr, err)
	}
	if ca == nil {
		return nil, errors.New("login: the TLS handshake was not verified")
	}
	return &Profile{
		ProxyAddr:   proxyAddr,
		ClusterName: res.GetClusterName(),
		User:        user,
		Roles:       res.GetRoles(),
		CertPEM:     res.GetCertificatePem(),
		KeyPEM:      key.PEM,
		// The CA the user trusted in the handshake, not whatever the
		// response says.
		CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
	}, nil
}
