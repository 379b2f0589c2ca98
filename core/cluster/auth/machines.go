package auth

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// Machines are agents and proxies: they hold client certificates of the
// cluster's CA like users, but with a user name no person can have (user
// names have no ':') and exactly one role, so a machine certificate is
// useless for user calls and a user certificate for machine calls.
const (
	RoleAgent       = "agent"
	AgentUserPrefix = "agent:"
	RoleProxy       = "proxy"
	ProxyUserPrefix = "proxy:"

	agentsPrefix = "/auth/agents/"

	// DefaultMachineCertTTL is how long an agent's, a leaf's or a peer
	// proxy's certificate is valid unless auth_service.machine_cert_ttl
	// says otherwise (never longer: MaxMachineCertTTL). Machines renew
	// theirs (Renew) at two thirds of its life, so a stolen key is useful
	// for a day at most after its holder stops renewing; agents and leaves
	// are revoked at once by deleting their record, which every call
	// checks.
	DefaultMachineCertTTL = 24 * time.Hour
	// MaxMachineCertTTL bounds auth_service.machine_cert_ttl.
	MaxMachineCertTTL = 24 * time.Hour
)

// Agent is an App Service agent that has joined the cluster.
type Agent struct {
	ID       string    `json:"id"`
	HostName string    `json:"host_name"`
	Joined   time.Time `json:"joined"`
	// Limits are its join token's: the apps it may serve.
	Limits AgentLimits `json:"limits,omitempty"`
	// Generation is made at the join and carried by the agent's
	// certificate (see NewGeneration). Empty in a record from before
	// generations.
	Generation string `json:"generation,omitempty"`
}

// SetMachineCertTTL sets how long the machine certificates the service
// issues (joins and renewals of agents and leaves) are valid; ttl <= 0 or
// above MaxMachineCertTTL means DefaultMachineCertTTL. Call it before the
// service is used.
func (s *Service) SetMachineCertTTL(ttl time.Duration) {
	if ttl <= 0 || ttl > MaxMachineCertTTL {
		ttl = DefaultMachineCertTTL
	}
	s.machineTTL = ttl
}

// MachineCertTTL is how long the machine certificates it issues are valid.
func (s *Service) MachineCertTTL() time.Duration { return s.machineTTL }

// RenewMachine signs a new certificate for pubDER (PKIX, DER) for the
// machine (agent or leaf, by role) whose current certificate chain is
// chain: the same name, role and record generation, so removing the
// record ends the renewed certificate as it ends the first. A removed
// machine's, an expired or a foreign certificate is refused as
// AuthenticateMachine refuses it: renewal never revives what a call would
// refuse.
func (s *Service) RenewMachine(ctx context.Context, chain []*x509.Certificate, role string, pubDER []byte) ([]byte, error) {
	if role != RoleAgent && role != RoleLeaf {
		return nil, fmt.Errorf("%w: only agents and leaf clusters renew their certificates", ErrAccessDenied)
	}
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if _, err := s.AuthenticateMachine(ctx, chain, role); err != nil {
		return nil, err
	}
	// AuthenticateMachine checked that the certificate's generation is
	// the stored record's.
	id, err := s.ca.Verify(chain, s.now())
	if err != nil {
		return nil, err
	}
	return s.ca.IssueUser(pub, Identity{User: id.User, Roles: id.Roles, Generation: id.Generation}, s.machineTTL)
}

// IssueProxy signs the client certificate a proxy presents to the other
// proxies of its cluster; name tells the proxy apart in their logs.
func (ca *CA) IssueProxy(pub crypto.PublicKey, name string, ttl time.Duration) ([]byte, error) {
	return ca.IssueUser(pub, Identity{User: ProxyUserPrefix + name, Roles: []string{RoleProxy}}, ttl)
}

// AuthenticateMachine checks a client certificate chain of a machine (an
// agent, a leaf or a proxy, not a user) and that it carries role. For
// agents and leaves it also checks that the record the certificate was
// issued for still exists: the name and the generation, so that a record
// made again after a removal (a re-join) does not revive the removed
// one's certificates. It returns the machine's ID (the certificate's user
// without its prefix).
func (s *Service) AuthenticateMachine(ctx context.Context, chain []*x509.Certificate, role string) (string, error) {
	id, err := s.ca.verify(ctx, chain, s.now())
	if err != nil {
		return "", err
	}
	prefix, what := machinePrefix(role)
	name, ok := strings.CutPrefix(id.User, prefix)
	if prefix == "" || !ok || len(id.Roles) != 1 || id.Roles[0] != role {
		return "", fmt.Errorf("%w: %s certificate is required", ErrAccessDenied, what)
	}
	switch role {
	case RoleAgent:
		a, err := s.GetAgent(ctx, name)
		if errors.Is(err, ErrNoSuchResource) || (err == nil && !bound(a.Generation, id.Generation)) {
			return "", fmt.Errorf("%w: agent %s has been removed from the cluster: join it again with a new token", ErrAccessDenied, name)
		}
		if err != nil {
			return "", err
		}
	case RoleLeaf:
		l, err := s.getLeaf(ctx, name)
		if errors.Is(err, ErrNoSuchResource) || (err == nil && !bound(l.Generation, id.Generation)) {
			return "", fmt.Errorf("%w: the trust of leaf cluster %s has been removed: join again with a new token", ErrAccessDenied, name)
		}
		if err != nil {
			return "", err
		}
	}
	return name, nil
}

// RemoveAgent deletes an agent's record: its certificate stops working at
// its next call.
func (s *Service) RemoveAgent(ctx context.Context, id string) error {
	if err := s.store.Delete(ctx, agentsPrefix+id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("agent %q: %w", id, ErrNoSuchResource)
		}
		return fmt.Errorf("remove agent %q: %w", id, err)
	}
	return nil
}

// GetAgent returns the record of the agent id; ErrNoSuchResource once it
// has been removed.
func (s *Service) GetAgent(ctx context.Context, id string) (Agent, error) {
	data, err := s.store.Get(ctx, agentsPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return Agent{}, fmt.Errorf("agent %q: %w", id, ErrNoSuchResource)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("load agent %q: %w", id, err)
	}
	var a Agent
	if err := json.Unmarshal(data, &a); err != nil {
		return Agent{}, fmt.Errorf("stored agent %q is damaged: %w", id, err)
	}
	a.ID = id
	return a, nil
}

// ListAgents returns the agents that have joined, by ID.
func (s *Service) ListAgents(ctx context.Context) ([]Agent, error) {
	items, err := s.store.List(ctx, agentsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	out := make([]Agent, 0, len(items))
	for _, it := range items {
		var a Agent
		if err := json.Unmarshal(it.Value, &a); err != nil {
			return nil, fmt.Errorf("stored agent %s is damaged: %w", it.Key, err)
		}
		a.ID = strings.TrimPrefix(it.Key, agentsPrefix)
		out = append(out, a)
	}
	return out, nil
}

// machinePrefix is the user-name prefix of role's certificates and how a
// message names them.
func machinePrefix(role string) (prefix, what string) {
	switch role {
	case RoleAgent:
		return AgentUserPrefix, "an agent"
	case RoleProxy:
		return ProxyUserPrefix, "a proxy"
	case RoleLeaf:
		return LeafUserPrefix, "a leaf cluster"
	}
	return "", fmt.Sprintf("a %q", role)
}
