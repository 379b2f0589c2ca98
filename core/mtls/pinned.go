package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/vnetproject/vnet/core/capin"
)

// DialPinned connects to a proxy whose CA is not known yet (a first login,
// an agent joining): it learns the CA from the TLS handshake, lets trust
// decide whether its pin ("sha256:...") is the right one, and checks the
// proxy's certificate against that CA. ca returns the CA trusted in the
// handshake, nil before one succeeded.
func DialPinned(proxyAddr string, trust func(pin string) error) (conn *grpc.ClientConn, ca func() *x509.Certificate, err error) {
	host, _, err := net.SplitHostPort(proxyAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy address %q: %w", proxyAddr, err)
	}
	var trusted atomic.Pointer[x509.Certificate]
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
			if err := trust(capin.Of(root)); err != nil {
				return err
			}
			pool := x509.NewCertPool()
			pool.AddCert(root)
			if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
				return fmt.Errorf("proxy certificate: %w", err)
			}
			trusted.Store(root)
			return nil
		},
	}
	conn, err = grpc.NewClient("passthrough:///"+proxyAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, nil, err
	}
	return conn, trusted.Load, nil
}
