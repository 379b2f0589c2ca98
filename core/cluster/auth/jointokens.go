package auth

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// Join token types: what a token lets its holder join as.
const (
	TokenTypeApp            = "app"             // an App Service agent
	TokenTypeTrustedCluster = "trusted_cluster" // a leaf cluster
)

const (
	joinTokensPrefix = "/auth/join_tokens/"

	// DefaultJoinTokenTTL is a join token's lifetime when none is given.
	DefaultJoinTokenTTL = 30 * time.Minute
	// MaxJoinTokenTTL bounds a join token's lifetime: a long-lived secret
	// that adds machines to the cluster is a liability.
	MaxJoinTokenTTL = 30 * 24 * time.Hour
	tokenIDLen      = 8 // hex characters of the hash shown by ListJoinTokens
)

// ErrInvalidJoinToken is every failure to join: unknown, expired or
// wrong-type tokens look the same to the caller.
var ErrInvalidJoinToken = errors.New("invalid or expired join token: ask the cluster administrator for a new one ('vnet ctl tokens add --type=app')")

// JoinToken is a stored join token, without its secret.
type JoinToken struct {
	ID      string    `json:"-"` // first characters of the secret's SHA-256
	Type    string    `json:"type"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Limits of an app token: what the agents joining with it may serve.
	Limits AgentLimits `json:"limits,omitempty"`
	// Grants are what a leaf joining with a trusted_cluster token may
	// claim at first (see JoinLeaf); nil for none.
	Grants *resource.LeafGrants `json:"grants,omitempty"`
}

// AddJoinToken creates a join token of typ valid for ttl (DefaultJoinTokenTTL
// if zero). Only its SHA-256 is stored. A token may be redeemed by any
// number of joiners until it expires, so one token can enrol a fleet.
func (s *Service) AddJoinToken(ctx context.Context, typ string, ttl time.Duration) (token string, expires time.Time, err error) {
	return s.addJoinToken(ctx, JoinToken{Type: typ}, ttl)
}

// AddAppJoinToken is AddJoinToken for App Service agents that may serve
// only the apps limits allow.
func (s *Service) AddAppJoinToken(ctx context.Context, ttl time.Duration, limits AgentLimits) (token string, expires time.Time, err error) {
	if err := limits.Check(); err != nil {
		return "", time.Time{}, err
	}
	return s.addJoinToken(ctx, JoinToken{Type: TokenTypeApp, Limits: limits}, ttl)
}

// addJoinToken stores t (its type, and an app token's limits or a
// trusted_cluster token's grants) with a new secret.
func (s *Service) addJoinToken(ctx context.Context, t JoinToken, ttl time.Duration) (token string, expires time.Time, err error) {
	switch t.Type {
	case TokenTypeApp, TokenTypeTrustedCluster:
	default:
		return "", time.Time{}, fmt.Errorf("token type %q: use %s or %s", t.Type, TokenTypeApp, TokenTypeTrustedCluster)
	}
	switch {
	case ttl == 0:
		ttl = DefaultJoinTokenTTL
	case ttl < 0:
		return "", time.Time{}, fmt.Errorf("token ttl %v: must be positive", ttl)
	case ttl > MaxJoinTokenTTL:
		return "", time.Time{}, fmt.Errorf("token ttl %v: at most %v", ttl, MaxJoinTokenTTL)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	token = hex.EncodeToString(raw)
	now := s.now().UTC()
	t.Created, t.Expires = now, now.Add(ttl)
	data, _ := json.Marshal(t)
	if err := s.store.Create(ctx, joinTokensPrefix+hashToken(token), data); err != nil {
		return "", time.Time{}, fmt.Errorf("store join token: %w", err)
	}
	return token, t.Expires, nil
}

// ListJoinTokens returns the join tokens that have not expired, by ID.
func (s *Service) ListJoinTokens(ctx context.Context) ([]JoinToken, error) {
	items, err := s.store.List(ctx, joinTokensPrefix)
	if err != nil {
		return nil, fmt.Errorf("list join tokens: %w", err)
	}
	now := s.now()
	var out []JoinToken
	for _, it := range items {
		var t JoinToken
		if err := json.Unmarshal(it.Value, &t); err != nil {
			return nil, fmt.Errorf("stored join token %s is damaged: %w", it.Key, err)
		}
		if now.After(t.Expires) {
			continue
		}
		t.ID = strings.TrimPrefix(it.Key, joinTokensPrefix)[:tokenIDLen]
		out = append(out, t)
	}
	return out, nil
}

// lookupJoinToken returns the unexpired token of type typ.
func (s *Service) lookupJoinToken(ctx context.Context, token, typ string) (JoinToken, error) {
	data, err := s.store.Get(ctx, joinTokensPrefix+hashToken(token))
	if err != nil {
		return JoinToken{}, ErrInvalidJoinToken
	}
	var t JoinToken
	if json.Unmarshal(data, &t) != nil || t.Type != typ || s.now().After(t.Expires) {
		return JoinToken{}, ErrInvalidJoinToken
	}
	return t, nil
}

// JoinAgent redeems an app join token: it records a new agent and signs a
// certificate for pubDER (PKIX, DER) carrying the agent's identity.
func (s *Service) JoinAgent(ctx context.Context, token, hostName string, pubDER []byte) (certPEM []byte, agent Agent, err error) {
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, Agent{}, fmt.Errorf("public key: %w", err)
	}
	t, err := s.lookupJoinToken(ctx, token, TokenTypeApp)
	if err != nil {
		return nil, Agent{}, err
	}
	// The token's limits bind the agent for as long as its record lives.
	agent = Agent{ID: s.newAgentID(), HostName: hostName, Joined: s.now().UTC(), Limits: t.Limits, Generation: NewGeneration()}
	data, _ := json.Marshal(agent)
	if err := s.store.Create(ctx, agentsPrefix+agent.ID, data); err != nil {
		return nil, Agent{}, fmt.Errorf("store agent: %w", err)
	}
	certPEM, err = s.ca.IssueUser(pub, Identity{User: AgentUserPrefix + agent.ID, Roles: []string{RoleAgent}, Generation: agent.Generation}, s.machineTTL)
	if err != nil {
		_ = s.store.Delete(ctx, agentsPrefix+agent.ID)
		return nil, Agent{}, err
	}
	return certPEM, agent, nil
}

// randomAgentID is an agent's ID: random, so that agents never share one;
// its generation (not the ID) is what binds its certificate to its record.
func randomAgentID() string {
	raw := make([]byte, 8)
	rand.Read(raw) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(raw)
}
