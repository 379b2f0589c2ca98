package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
)

func newTestService(t testing.TB) (*Service, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st := store.NewMemory()
	ca, err := LoadOrCreateCA(ctx, st, "root.test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(st, ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, ctx
}

func newPub(t testing.TB) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, der
}

func parseCert(t testing.TB, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAddJoinTokenValidation(t *testing.T) {
	s, ctx := newTestService(t)
	tests := []struct {
		name    string
		typ     string
		ttl     time.Duration
		wantErr string
	}{
		{"app, default ttl", TokenTypeApp, 0, ""},
		{"trusted cluster", TokenTypeTrustedCluster, time.Hour, ""},
		{"unknown type", "node", time.Hour, `token type "node"`},
		{"empty type", "", time.Hour, `token type ""`},
		{"negative ttl", TokenTypeApp, -time.Second, "must be positive"},
		{"ttl too long", TokenTypeApp, MaxJoinTokenTTL + time.Hour, "at most"},
	}
	stored := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, expires, err := s.AddJoinToken(ctx, tt.typ, tt.ttl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("AddJoinToken = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			stored++
			if err != nil || len(token) != 32 {
				t.Fatalf("AddJoinToken = %q, %v", token, err)
			}
			want := tt.ttl
			if want == 0 {
				want = DefaultJoinTokenTTL
			}
			if d := time.Until(expires); d > want || d < want-time.Minute {
				t.Errorf("expires in %v, want about %v", d, want)
			}
		})
	}
	list, err := s.ListJoinTokens(ctx)
	if err != nil || len(list) != stored {
		t.Fatalf("ListJoinTokens = %v, %v; want %d tokens (bad ones store nothing)", list, err, stored)
	}
	items, err := s.store.List(ctx, joinTokensPrefix)
	if err != nil || len(items) != len(list) {
		t.Fatalf("stored tokens = %d, %v", len(items), err)
	}
	for i, tok := range list {
		if hash := strings.TrimPrefix(items[i].Key, joinTokensPrefix); !strings.HasPrefix(hash, tok.ID) || len(hash) != 64 {
			t.Errorf("token ID %q is not a prefix of its stored hash %s", tok.ID, hash)
		}
	}
}

func TestJoinAgent(t *testing.T) {
	s, ctx := newTestService(t)
	appToken, _, err := s.AddJoinToken(ctx, TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leafToken, _, err := s.AddJoinToken(ctx, TokenTypeTrustedCluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	shortToken, _, err := s.AddJoinToken(ctx, TokenTypeApp, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, pub := newPub(t)
	tests := []struct {
		name    string
		token   string
		pub     []byte
		later   time.Duration
		wantErr error
	}{
		{"app token", appToken, pub, 0, nil},
		{"app token again (reusable until it expires)", appToken, pub, 0, nil},
		{"trusted cluster token", leafToken, pub, 0, ErrInvalidJoinToken},
		{"unknown token", strings.Repeat("0", 32), pub, 0, ErrInvalidJoinToken},
		{"expired token", shortToken, pub, 2 * time.Minute, ErrInvalidJoinToken},
		{"bad public key", appToken, []byte("nope"), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.now = func() time.Time { return time.Now().Add(tt.later) }
			defer func() { s.now = time.Now }()
			before, _ := s.store.List(ctx, agentsPrefix)
			certPEM, agent, err := s.JoinAgent(ctx, tt.token, "host1", tt.pub)
			after, _ := s.store.List(ctx, agentsPrefix)
			if tt.name == "bad public key" {
				if err == nil || !strings.Contains(err.Error(), "public key") {
					t.Fatalf("JoinAgent = %v, want a public key error", err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("JoinAgent = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if len(after) != len(before) {
					t.Fatal("a failed join stored an agent")
				}
				return
			}
			cert := parseCert(t, certPEM)
			if cert.Subject.CommonName != AgentUserPrefix+agent.ID || len(cert.Subject.OrganizationalUnit) != 1 || cert.Subject.OrganizationalUnit[0] != RoleAgent {
				t.Fatalf("agent certificate subject = %v", cert.Subject)
			}
			if len(after) != len(before)+1 {
				t.Fatalf("agents stored: %d, want %d", len(after), len(before)+1)
			}
		})
	}
}

func TestAuthenticateMachine(t *testing.T) {
	s, ctx := newTestService(t)
	token, _, err := s.AddJoinToken(ctx, TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, pub := newPub(t)
	agentPEM, agent, err := s.JoinAgent(ctx, token, "h", pub)
	if err != nil {
		t.Fatal(err)
	}
	removedPEM, removed, err := s.JoinAgent(ctx, token, "h2", pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAgent(ctx, removed.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAgent(ctx, removed.ID); !errors.Is(err, ErrNoSuchResource) {
		t.Fatalf("second RemoveAgent = %v, want ErrNoSuchResource", err)
	}
	proxyPEM, err := s.ca.IssueProxy(&key.PublicKey, "127.0.0.1:3080", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	userPEM, err := s.ca.IssueUser(&key.PublicKey, Identity{User: "alice", Roles: []string{RoleAgent}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cert    []byte
		role    string
		wantID  string
		wantErr string
	}{
		{"agent as agent", agentPEM, RoleAgent, agent.ID, ""},
		{"proxy as proxy", proxyPEM, RoleProxy, "127.0.0.1:3080", ""},
		{"agent as proxy", agentPEM, RoleProxy, "", "a proxy certificate is required"},
		{"proxy as agent", proxyPEM, RoleAgent, "", "an agent certificate is required"},
		{"user with the agent role", userPEM, RoleAgent, "", "an agent certificate is required"},
		{"removed agent", removedPEM, RoleAgent, "", "has been removed"},
		{"unknown role", agentPEM, "admin", "", "certificate is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.AuthenticateMachine(ctx, []*x509.Certificate{parseCert(t, tt.cert)}, tt.role)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrAccessDenied) {
					t.Fatalf("AuthenticateMachine = %q, %v; want access denied saying %q", id, err, tt.wantErr)
				}
				return
			}
			if err != nil || id != tt.wantID {
				t.Fatalf("AuthenticateMachine = %q, %v; want %q", id, err, tt.wantID)
			}
		})
	}
	if _, err := s.AuthenticateMachine(ctx, nil, RoleAgent); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("no certificate: %v, want ErrNoCertificate", err)
	}
}
