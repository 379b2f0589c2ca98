package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// foreignTwin signs, with another cluster's CA, a certificate carrying
// exactly the identity of chain's (name, roles, record generation): only
// the chain check tells the two apart. It returns the other CA too.
func foreignTwin(t *testing.T, ctx context.Context, chain []*x509.Certificate) ([]*x509.Certificate, *CA) {
	t.Helper()
	other, err := LoadOrCreateCA(ctx, store.NewMemory(), "other.test")
	if err != nil {
		t.Fatal(err)
	}
	leaf := chain[0]
	_, pub := newPub(t)
	pk, err := x509.ParsePKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	der, err := other.IssueUser(pk, Identity{User: leaf.Subject.CommonName, Roles: leaf.Subject.OrganizationalUnit, Generation: leaf.Subject.SerialNumber}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{parseCert(t, der)}, other
}

// TestConnVerifiedChecksChainOncePerConnection: on one connection the
// chain is checked once; another certificate on that connection (a
// foreign one carrying the same identity), an expired one, and the
// foreign one on a connection of its own are still refused. A cache keyed
// by anything but the certificate's bytes (the user, the identity) or
// shared between connections lets the foreign twin in.
func TestConnVerifiedChecksChainOncePerConnection(t *testing.T) {
	s, ctx := newTestService(t)
	good := loginUser(t, s, ctx, "alice")
	twin, otherCA := foreignTwin(t, ctx, good)
	if twin[0].Subject.String() != good[0].Subject.String() {
		t.Fatalf("the twin's subject %q is not alice's %q", twin[0].Subject, good[0].Subject)
	}

	conn := NewConnVerified()
	cctx := WithConnVerified(ctx, conn)
	for i := 0; i < 3; i++ {
		if id, err := s.Authenticate(cctx, good); err != nil || id.User != "alice" {
			t.Fatalf("stream %d with alice's certificate: %+v, %v", i, id, err)
		}
	}
	if conn.checks != 1 {
		t.Fatalf("%d chain checks for three streams of one connection, want 1", conn.checks)
	}
	if _, err := s.AuthenticateMachine(cctx, good, RoleAgent); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("alice's certificate as an agent's: %v, want access denied", err)
	}

	if id, err := s.Authenticate(cctx, twin); !errors.Is(err, ErrForeignCert) {
		t.Fatalf("a foreign certificate with alice's identity on alice's connection: %+v, %v; want %v", id, err, ErrForeignCert)
	}
	other := WithConnVerified(ctx, NewConnVerified())
	if id, err := s.Authenticate(other, twin); !errors.Is(err, ErrForeignCert) {
		t.Fatalf("a foreign certificate with alice's identity on another connection: %+v, %v; want %v", id, err, ErrForeignCert)
	}
	// The foreign twin did not replace alice's entry: hers still passes
	// without a check, and the twin is refused again after it.
	before := conn.checks
	if _, err := s.Authenticate(cctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(cctx, twin); !errors.Is(err, ErrForeignCert) {
		t.Fatalf("the twin after alice again: %v, want %v", err, ErrForeignCert)
	}
	if conn.checks != before+1 {
		t.Fatalf("chain checks went from %d to %d, want one more (the twin's)", before, conn.checks)
	}

	// Checked against another CA (a rotation), the certificate that
	// passed is checked again, and refused.
	if _, err := otherCA.verify(cctx, good, time.Now()); !errors.Is(err, ErrForeignCert) {
		t.Fatalf("alice's certificate against another CA on the connection it passed on: %v, want %v", err, ErrForeignCert)
	}

	// Expiry is checked on every stream, also for a certificate that
	// passed on this connection.
	s.now = func() time.Time { return good[0].NotAfter.Add(time.Second) }
	defer func() { s.now = time.Now }()
	if _, err := s.Authenticate(cctx, good); !errors.Is(err, ErrCertExpired) {
		t.Fatalf("alice's expired certificate on the connection it passed on: %v, want %v", err, ErrCertExpired)
	}
	s.now = time.Now

	// The record too: a removed user's certificate stops at the next
	// stream of the same connection.
	if err := s.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(cctx, good); !errors.Is(err, ErrUnknownUser) && !errors.Is(err, ErrRevoked) {
		t.Fatalf("removed alice's certificate on the connection it passed on: %v, want unknown user", err)
	}
}

// BenchmarkAuthenticate: a stream's authentication without the
// connection's cache (every stream before) and with it.
func BenchmarkAuthenticate(b *testing.B) {
	s, ctx := newTestService(b)
	chain := loginUser(b, s, ctx, "alice")
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{{"per-stream-chain-check", ctx}, {"per-connection-chain-check", WithConnVerified(ctx, NewConnVerified())}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.Authenticate(tc.ctx, chain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
