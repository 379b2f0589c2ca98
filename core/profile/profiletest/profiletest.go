// Package profiletest makes profiles for tests that need a certificate
// with a chosen end but no cluster behind it.
package profiletest

import (
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/mtls/mtlstest"
	"github.com/vnetproject/vnet/core/profile"
)

// SelfSigned is alice's profile for proxy, with a fresh key and a
// self-signed certificate (also its CA) valid until notAfter.
func SelfSigned(t testing.TB, proxy string, notAfter time.Time) *profile.Profile {
	id := mtlstest.SelfSigned(t, proxy, notAfter)
	return &profile.Profile{ProxyAddr: id.ProxyAddr, ClusterName: id.ClusterName, User: id.User, CertPEM: id.CertPEM, KeyPEM: id.KeyPEM, CAPEM: id.CAPEM}
}
