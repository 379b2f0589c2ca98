package proxy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// The administration of leaf clusters (admin only: policy.go), at the
// root: remote_cluster resources (the leaves that joined, their grants),
// trusted_cluster join tokens with grants; and at the leaf: a
// trusted_cluster's role map.

// checkRoleMap refuses a trusted_cluster whose role map names a role
// this (leaf) cluster does not have: it would grant nothing, silently.
func (lv *leaves) checkRoleMap(ctx context.Context, tc *resource.TrustedCluster) error {
	for i, m := range tc.Spec.RoleMap {
		if err := lv.rbac.checkRolesExist(ctx, m.Local); err != nil {
			return fmt.Errorf("trusted_cluster %q: spec.role_map[%d].local: %w", tc.Name(), i, err)
		}
	}
	return nil
}

// remoteClusters returns the leaves that joined (or the one called name)
// as resources, with their grants, whether they are connected to this
// proxy, and what of their claims this proxy drops. It makes a catalog
// pass as the caller first, so that refusals show without a watching user.
func (lv *leaves) remoteClusters(ctx context.Context, name string) ([]resource.Resource, error) {
	if id, err := identityFrom(ctx); err == nil {
		lv.catalogs(ctx, id)
	}
	joined, err := lv.auth.ListLeaves(ctx)
	if err != nil {
		return nil, err
	}
	var out []resource.Resource
	for _, lf := range joined {
		if name != "" && lf.Name != name {
			continue
		}
		st := &resource.RemoteClusterStatus{Joined: lf.Joined}
		if l := lv.links.get(lf.Name); l != nil {
			st.Connected, st.ProxyPublicAddr = true, l.publicAddr
			st.Refused = lv.recentRefused(lf.Name)
		}
		out = append(out, resource.NewRemoteCluster(lf.Name, lf.Grants, st))
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("remote_cluster %q: %w", name, auth.ErrNoSuchResource)
	}
	return out, nil
}

// setRemoteCluster writes the grants of a leaf that has joined (vnet ctl
// create -f, or edit remote_cluster/NAME); its status is read-only and
// ignored.
func (lv *leaves) setRemoteCluster(ctx context.Context, rc *resource.RemoteCluster, force bool) error {
	joined, err := lv.auth.ListLeaves(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(joined, func(l auth.Leaf) bool { return l.Name == rc.Name() }) {
		return fmt.Errorf("remote_cluster %q: no leaf cluster of that name has joined (a remote_cluster is recorded when a leaf joins with a token from 'vnet ctl tokens add --type=trusted_cluster'): %w", rc.Name(), auth.ErrNoSuchResource)
	}
	if !force {
		return fmt.Errorf("remote_cluster %q already exists: use -f to overwrite its grants, or 'vnet ctl edit remote_cluster/%s'", rc.Name(), rc.Name())
	}
	cfg, err := lv.state.VNetConfig(ctx)
	if err != nil {
		return err
	}
	if err := checkGrantedRange(rc.Spec.Grants.IPv4CIDRRange, rc.Name(), cfg.Spec.IPv4Prefix(), joined); err != nil {
		return &resource.ValidationError{Kind: resource.KindRemoteCluster, Name: rc.Name(), Field: "spec.grants.ipv4_cidr_range", Reason: err.Error()}
	}
	return lv.auth.SetLeafGrants(ctx, rc.Name(), rc.Spec.Grants)
}

// leafTokenGrants returns the leaf grants a token request asks for, or
// nil if none.
func leafTokenGrants(req *api.AddTokenRequest) *resource.LeafGrants {
	if len(req.GetLeafZones()) == 0 && req.GetLeafIpv4CidrRange() == "" {
		return nil
	}
	return &resource.LeafGrants{Zones: req.GetLeafZones(), IPv4CIDRRange: req.GetLeafIpv4CidrRange()}
}

// addToken makes a trusted_cluster join token whose leaves start with
// grants, refusing a range that overlaps this cluster's or a leaf'lv.
func (lv *leaves) addToken(ctx context.Context, typ string, ttl time.Duration, g resource.LeafGrants) (string, time.Time, error) {
	if typ != auth.TokenTypeTrustedCluster {
		return "", time.Time{}, fmt.Errorf("--zones and --range are grants to leaf clusters: use them with --type=%s", auth.TokenTypeTrustedCluster)
	}
	if err := g.CheckAndSetDefaults(); err != nil {
		return "", time.Time{}, fmt.Errorf("token grants: %w", err)
	}
	cfg, err := lv.state.VNetConfig(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	joined, err := lv.auth.ListLeaves(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := checkGrantedRange(g.IPv4CIDRRange, "", cfg.Spec.IPv4Prefix(), joined); err != nil {
		return "", time.Time{}, fmt.Errorf("token grants: ipv4_cidr_range: %w", err)
	}
	return lv.auth.AddLeafJoinToken(ctx, ttl, g)
}

// remove ends the trust of a leaf: its record goes, so its
// certificate is refused from now on, and its tunnel here and the users'
// tunnels to it are cut.
func (lv *leaves) remove(ctx context.Context, name string) error {
	if err := lv.auth.RemoveLeaf(ctx, name); err != nil {
		return err
	}
	if l := lv.links.get(name); l != nil {
		l.remove()
	}
	lv.sessions.cutLeaf(name) // its users' tunnels to it (sessions.go)
	lv.mu.Lock()
	delete(lv.refused, name)
	lv.mu.Unlock()
	return nil
}
