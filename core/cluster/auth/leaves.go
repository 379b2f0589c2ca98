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

	// LeafCertTTL is how long a leaf's certificate is valid; the trust is
	// revoked by removing the leaf's record, which every call checks.
	LeafCertTTL = 365 * 24 * time.Hour
)

// Leaf is a leaf cluster that has joined this (root) cluster.
type Leaf struct {
	Name   string    `json:"name"`
	Joined time.Time `json:"joined"`
}

// JoinLeaf redeems a trusted_cluster join token for the leaf cluster
// called name and signs a leaf certificate for pubDER (PKIX, DER). A leaf
// that joins again (a new key, after its trust was removed) replaces its
// record.
func (s *Service) JoinLeaf(ctx context.Context, token, name string, pubDER []byte) (certPEM []byte, err error) {
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if _, err := s.lookupJoinToken(ctx, token, TokenTypeTrustedCluster); err != nil {
		return nil, err
	}
	if err := resource.CheckClusterName(name); err != nil {
		return nil, err
	}
	if name == s.ca.ClusterName {
		return nil, fmt.Errorf("leaf cluster name %q is this cluster's own name", name)
	}
	data, _ := json.Marshal(Leaf{Name: name, Joined: s.now().UTC()})
	if err := s.store.Put(ctx, leavesPrefix+name, data); err != nil {
		return nil, fmt.Errorf("store leaf cluster: %w", err)
	}
	return s.ca.IssueUser(pub, Identity{User: LeafUserPrefix + name, Roles: []string{RoleLeaf}}, LeafCertTTL)
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
