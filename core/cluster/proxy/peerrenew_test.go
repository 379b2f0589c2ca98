package proxy

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/store"
)

func peerCert(t *testing.T, p *peerPool) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(p.identity().CertPEM)
	if block == nil {
		t.Fatal("no peer certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestPeerIdentityIsShortLivedAndRenewed: a proxy's peer certificate lives
// no longer than a machine certificate (24h by default, a year before);
// at two thirds of its life the pool issues a new one (a new key), dials
// new connections with it, and retires those made with the old one.
func TestPeerIdentityIsShortLivedAndRenewed(t *testing.T) {
	ca, err := auth.LoadOrCreateCA(context.Background(), store.NewMemory(), "root.test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPeerPool(ca, "root.test", "10.0.0.1:3080", auth.DefaultMachineCertTTL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	first := peerCert(t, p)
	if life := first.NotAfter.Sub(first.NotBefore); life > 24*time.Hour+time.Minute { // NotBefore is a minute early
		t.Fatalf("peer certificate valid for %v, want at most 24h", life)
	}
	if id, err := ca.Verify([]*x509.Certificate{first}, time.Now()); err != nil || id.User != auth.ProxyUserPrefix+"10.0.0.1:3080" {
		t.Fatalf("peer certificate: %v, %v", id, err)
	}

	const peer = "127.0.0.1:1" // never dialled: connections are lazy
	c1, err := p.conn(peer)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := p.conn(peer); again != c1 {
		t.Fatal("a second dial before the renewal made a new connection")
	}
	// Two thirds of its life later (the pool's clock; the CA signs at
	// the real time).
	later := time.Now().Add(auth.DefaultMachineCertTTL*2/3 + time.Second)
	p.mu.Lock()
	p.now = func() time.Time { return later }
	p.mu.Unlock()
	c2, err := p.conn(peer)
	if err != nil {
		t.Fatal(err)
	}
	if c2 == c1 {
		t.Error("after the renewal the pool still dials with the connection of the old certificate")
	}
	next := peerCert(t, p)
	if next.SerialNumber.Cmp(first.SerialNumber) == 0 || string(next.RawSubjectPublicKeyInfo) == string(first.RawSubjectPublicKeyInfo) {
		t.Error("the peer certificate was not renewed with a new key")
	}
	p.mu.Lock()
	retired := len(p.retired)
	p.mu.Unlock()
	if retired != 1 {
		t.Errorf("%d connections retired, want the old one", retired)
	}
}
