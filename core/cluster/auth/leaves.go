package auth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// Leaf clusters join a root with a trusted_cluster join token and hold a
// machine certificate like agents: user "leaf:<cluster name>", single role
// RoleLeaf. The root keeps a record per leaf; removing it ends the trust.
const (
	RoleLeaf       = "leaf"
	LeafUserPrefix = "leaf:"

	leavesPrefix = "/auth/leaves/"
)

// Leaf is a leaf cluster that has joined this (root) cluster.
type Leaf struct {
	Name   string    `json:"name"`
	Joined time.Time `json:"joined"` // the first join of this record: earlier leaves win conflicting claims
	// Grants are what the root's admin lets this leaf claim besides its
	// proxy's host.
	Grants resource.LeafGrants `json:"grants"`
	// Generation is made when the record is created (the first join, or
	// the first after the trust was removed) and carried by the leaf's
	// certificates (see NewGeneration). A re-join while the record lives
	// keeps it: two proxies of one leaf cluster that join at once must
	// not refuse each other. Empty in a record from before generations.
	Generation string `json:"generation,omitempty"`
}

// AddLeafJoinToken creates a trusted_cluster join token whose leaves
// start with grants (already checked by the caller against this cluster's
// range and the other leaves').
func (s *Service) AddLeafJoinToken(ctx context.Context, ttl time.Duration, grants resource.LeafGrants) (token string, expires time.Time, err error) {
	if err := grants.CheckAndSetDefaults(); err != nil {
		return "", time.Time{}, err
	}
	t := JoinToken{Type: TokenTypeTrustedCluster}
	if len(grants.Zones) > 0 || grants.IPv4CIDRRange != "" {
		t.Grants = &grants
	}
	return s.addJoinToken(ctx, t, ttl)
}

// JoinLeaf redeems a trusted_cluster join token for the leaf cluster
// called name and signs a leaf certificate for pubDER (PKIX, DER). A new
// leaf's record starts with the token's grants. A leaf that joins again
// while its record exists (a new key) keeps the record: its grants, which
// the root's admin may have changed since, and its place among the
// leaves. After its trust was removed it starts anew.
func (s *Service) JoinLeaf(ctx context.Context, token, name string, pubDER []byte) (certPEM []byte, err error) {
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	t, err := s.lookupJoinToken(ctx, token, TokenTypeTrustedCluster)
	if err != nil {
		return nil, err
	}
	if err := resource.CheckClusterName(name); err != nil {
		return nil, err
	}
	if name == s.ca.ClusterName {
		return nil, fmt.Errorf("leaf cluster name %q is this cluster's own name", name)
	}
	l := Leaf{Name: name, Joined: s.now().UTC(), Generation: NewGeneration()}
	if t.Grants != nil {
		l.Grants = *t.Grants
	}
	data, _ := json.Marshal(l)
	for {
		err := s.store.Create(ctx, leavesPrefix+name, data)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("store leaf cluster: %w", err)
		}
		// A re-join: the certificate is bound to the record that lives.
		old, err := s.getLeaf(ctx, name)
		if errors.Is(err, ErrNoSuchResource) {
			continue // removed meanwhile: create it anew
		}
		if err != nil {
			return nil, err
		}
		l = old
		break
	}
	return s.ca.IssueUser(pub, Identity{User: LeafUserPrefix + name, Roles: []string{RoleLeaf}, Generation: l.Generation}, s.machineTTL)
}

// getLeaf returns the record of the leaf cluster name; ErrNoSuchResource
// if there is none.
func (s *Service) getLeaf(ctx context.Context, name string) (Leaf, error) {
	data, err := s.store.Get(ctx, leavesPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return Leaf{}, fmt.Errorf("leaf cluster %q: %w", name, ErrNoSuchResource)
	}
	if err != nil {
		return Leaf{}, fmt.Errorf("load leaf cluster %q: %w", name, err)
	}
	var l Leaf
	if err := json.Unmarshal(data, &l); err != nil {
		return Leaf{}, fmt.Errorf("stored leaf cluster %s is damaged: %w", name, err)
	}
	l.Name = name
	return l, nil
}

// SetLeafGrants replaces the grants of the leaf cluster called name.
// grants must have been checked (LeafGrants.CheckAndSetDefaults and the
// caller's checks against the other leaves).
func (s *Service) SetLeafGrants(ctx context.Context, name string, grants resource.LeafGrants) error {
	key := leavesPrefix + name
	for {
		old, err := s.store.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("remote_cluster %q: no leaf cluster of that name has joined: %w", name, ErrNoSuchResource)
		}
		if err != nil {
			return fmt.Errorf("load leaf cluster %q: %w", name, err)
		}
		var l Leaf
		if err := json.Unmarshal(old, &l); err != nil {
			return fmt.Errorf("stored leaf cluster %s is damaged: %w", name, err)
		}
		l.Grants = grants
		data, _ := json.Marshal(l)
		err = s.store.CompareAndSwap(ctx, key, old, data)
		if !errors.Is(err, store.ErrConflict) {
			if errors.Is(err, store.ErrNotFound) {
				continue // removed meanwhile: say so above
			}
			return err
		}
	}
}

// ListLeaves returns the leaf clusters that have joined, by name.
func (s *Service) ListLeaves(ctx context.Context) ([]Leaf, error) {
	items, err := s.store.List(ctx, leavesPrefix)
	if err != nil {
		return nil, fmt.Errorf("list leaf clusters: %w", err)
	}
	out := make([]Leaf, 0, len(items))
	for _, it := range items {
		var l Leaf
		if err := json.Unmarshal(it.Value, &l); err != nil {
			return nil, fmt.Errorf("stored leaf cluster %s is damaged: %w", it.Key, err)
		}
		l.Name = strings.TrimPrefix(it.Key, leavesPrefix)
		out = append(out, l)
	}
	return out, nil
}

// RemoveLeaf ends the trust of a leaf cluster: its certificate stops
// working at its next call, and it needs a new token to join again.
func (s *Service) RemoveLeaf(ctx context.Context, name string) error {
	if err := s.store.Delete(ctx, leavesPrefix+name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("remote_cluster %q: %w", name, ErrNoSuchResource)
		}
		return fmt.Errorf("remove leaf cluster %q: %w", name, err)
	}
	return nil
}
