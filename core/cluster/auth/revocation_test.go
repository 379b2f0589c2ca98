package auth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// Regression tests for "revocation is final" (issue 10; docs/security.md,
// "A certificate is bound to its record"):
// a certificate is bound to the record it was issued for, not to the
// record's name, so a record made again under that name does not revive
// the certificates of the one that was removed.

func loginUser(t testing.TB, s *Service, ctx context.Context, name string) []*x509.Certificate {
	t.Helper()
	token, _, err := s.AddUser(ctx, name, []string{"dev"})
	if err != nil {
		t.Fatal(err)
	}
	_, pub := newPub(t)
	certPEM, _, err := s.LoginWithToken(ctx, name, token, "", pub, "")
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{parseCert(t, certPEM)}
}

func TestRemovedUserCertificateStaysRevoked(t *testing.T) {
	s, ctx := newTestService(t)
	old := loginUser(t, s, ctx, "bob")
	if _, err := s.Authenticate(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	renewed := loginUser(t, s, ctx, "bob") // a new bob
	if id, err := s.Authenticate(ctx, old); !errors.Is(err, ErrRevoked) {
		t.Fatalf("the removed bob's certificate after a new bob was created: %+v, %v; want ErrRevoked", id, err)
	}
	if id, err := s.Authenticate(ctx, renewed); err != nil || id.User != "bob" {
		t.Fatalf("the new bob's certificate: %+v, %v", id, err)
	}
}

// TestLoginRacingRemoveIsRevoked: a login that read bob before he was
// removed and created again signs a certificate of the removed record.
func TestLoginRacingRemoveIsRevoked(t *testing.T) {
	s, ctx := newTestService(t)
	loginUser(t, s, ctx, "bob")
	stale, err := s.GetUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	loginUser(t, s, ctx, "bob")
	key, _ := newPub(t)
	certPEM, _, err := s.issue(&key.PublicKey, stale)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, []*x509.Certificate{parseCert(t, certPEM)}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a certificate signed for the removed record: %v, want ErrRevoked", err)
	}
}

func TestRemovedAgentCertificateStaysRevoked(t *testing.T) {
	s, ctx := newTestService(t)
	// Agent IDs are random; a repeated one stands for any way a record of
	// the same name comes back (an ID chosen by someone else, a bug).
	s.newAgentID = func() string { return "0123456789abcdef" }
	token, _, err := s.AddJoinToken(ctx, TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	join := func() []*x509.Certificate {
		t.Helper()
		_, pub := newPub(t)
		certPEM, _, err := s.JoinAgent(ctx, token, "host", pub)
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{parseCert(t, certPEM)}
	}
	old := join()
	if _, err := s.AuthenticateMachine(ctx, old, RoleAgent); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAgent(ctx, "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	renewed := join()
	if id, err := s.AuthenticateMachine(ctx, old, RoleAgent); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("the removed agent's certificate after a re-join under its ID: %q, %v; want access denied", id, err)
	}
	if id, err := s.AuthenticateMachine(ctx, renewed, RoleAgent); err != nil || id != "0123456789abcdef" {
		t.Fatalf("the re-joined agent's certificate: %q, %v", id, err)
	}
}

func TestRemovedLeafCertificateStaysRevoked(t *testing.T) {
	s, ctx := newTestService(t)
	token, _, err := s.AddJoinToken(ctx, TokenTypeTrustedCluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	join := func() []*x509.Certificate {
		t.Helper()
		_, pub := newPub(t)
		certPEM, err := s.JoinLeaf(ctx, token, "leaf.test", pub)
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{parseCert(t, certPEM)}
	}
	old := join()
	// A re-join while the record lives (a second proxy of the leaf, or a
	// new key) is bound to the same record: neither refuses the other.
	sibling := join()
	for _, chain := range [][]*x509.Certificate{old, sibling} {
		if _, err := s.AuthenticateMachine(ctx, chain, RoleLeaf); err != nil {
			t.Fatalf("a certificate of the live leaf record: %v", err)
		}
	}
	if err := s.RemoveLeaf(ctx, "leaf.test"); err != nil {
		t.Fatal(err)
	}
	renewed := join()
	for name, chain := range map[string][]*x509.Certificate{"first": old, "sibling": sibling} {
		if id, err := s.AuthenticateMachine(ctx, chain, RoleLeaf); !errors.Is(err, ErrAccessDenied) {
			t.Fatalf("the removed leaf's %s certificate after a re-join: %q, %v; want access denied", name, id, err)
		}
	}
	if id, err := s.AuthenticateMachine(ctx, renewed, RoleLeaf); err != nil || id != "leaf.test" {
		t.Fatalf("the re-joined leaf's certificate: %q, %v", id, err)
	}
}

// TestBuiltinAdminBoundToItsRecord: the admin identity the daemon issues
// at every start is bound to the admin record, which keeps its generation
// across starts (so an older admin certificate keeps working until it
// expires) and gets one if it was stored before generations.
func TestBuiltinAdminBoundToItsRecord(t *testing.T) {
	s, ctx := newTestService(t)
	// An admin record from before generations, and its certificate.
	legacy, _ := json.Marshal(User{Name: BuiltinAdmin, Roles: []string{RoleAdmin}, Created: time.Now()})
	if err := s.store.Create(ctx, usersPrefix+BuiltinAdmin, legacy); err != nil {
		t.Fatal(err)
	}
	key, _ := newPub(t)
	legacyPEM, err := s.ca.IssueUser(&key.PublicKey, Identity{User: BuiltinAdmin, Roles: []string{RoleAdmin}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	legacyChain := []*x509.Certificate{parseCert(t, legacyPEM)}
	if _, err := s.Authenticate(ctx, legacyChain); err != nil {
		t.Fatalf("a certificate of a record from before generations: %v", err)
	}

	start := func() []*x509.Certificate {
		t.Helper()
		admin, err := s.EnsureUser(ctx, BuiltinAdmin, []string{RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if admin.Generation == "" {
			t.Fatal("EnsureUser left the admin record without a generation")
		}
		certPEM, err := s.IssueFor(&key.PublicKey, admin, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		chain := []*x509.Certificate{parseCert(t, certPEM)}
		if id, err := s.Authenticate(ctx, chain); err != nil || !id.IsAdmin() {
			t.Fatalf("the admin identity: %+v, %v", id, err)
		}
		return chain
	}
	first := start()
	start()
	if _, err := s.Authenticate(ctx, first); err != nil {
		t.Fatalf("the admin identity of the previous start: %v", err)
	}
	if _, err := s.Authenticate(ctx, legacyChain); !errors.Is(err, ErrRevoked) {
		t.Fatalf("an admin certificate from before generations, once the record has one: %v, want ErrRevoked", err)
	}
}
