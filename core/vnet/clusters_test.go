package vnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/profile"
)

// certProfile is a profile for proxy whose (self-signed) certificate ends
// at notAfter; nothing listens at proxy.
func certProfile(t *testing.T, proxy string, notAfter time.Time) *profile.Profile {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alice"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &profile.Profile{ProxyAddr: proxy, ClusterName: "c", User: "alice", CertPEM: certPEM,
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), CAPEM: certPEM}
}

// TestExpiredLoginRefusedAtOnce: a login whose certificate has expired
// gets no dial (the connection is refused at once) and its catalog
// source says how to renew it.
func TestExpiredLoginRefusedAtOnce(t *testing.T) {
	p := certProfile(t, "127.0.0.1:1", time.Now().Add(-time.Minute))
	cs, err := Connect([]*profile.Profile{p})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cs.DialApp(ctx, AppTarget{ClusterID: p.ID(), Via: p.ID(), Cluster: "c", App: "db", Port: 5432})
	if !errors.Is(err, profile.ErrCertExpired) || !strings.Contains(err.Error(), "vnet login --proxy=127.0.0.1:1") {
		t.Fatalf("DialApp with an expired certificate: %v", err)
	}
	err = cs.Logins()[0].Source.Watch(ctx, func([]catalog.Cluster) { t.Error("an expired login offered a catalog") })
	if !errors.Is(err, profile.ErrCertExpired) {
		t.Fatalf("Watch with an expired certificate: %v", err)
	}
}

// TestWatchEndsWhenTheCertificateExpires: a catalog stream of a login
// ends when its certificate does, with the error that says so.
func TestWatchEndsWhenTheCertificateExpires(t *testing.T) {
	p := certProfile(t, "127.0.0.1:1", time.Now().Add(1500*time.Millisecond))
	src := certSource{profile: p}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A source that blocks until its context ends: only the expiry ends
	// the watch.
	blocking := func(ctx context.Context, _ func([]catalog.Cluster)) error {
		<-ctx.Done()
		return ctx.Err()
	}
	if err := src.watchWith(ctx, blocking, func([]catalog.Cluster) {}); !errors.Is(err, profile.ErrCertExpired) {
		t.Fatalf("watch across the expiry: %v", err)
	}
}
