package profile

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/mtls"
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
	conn, trustedCA, err := mtls.DialPinned(proxyAddr, trust)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	key, err := mtls.NewKey()
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
	ca := trustedCA()
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
