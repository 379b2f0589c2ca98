package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/relay"
)

// The root's side of leaf clusters. A leaf's proxy joins with a
// trusted_cluster token (Trust.Join) and keeps one outbound connection to
// a root proxy carrying its control stream (Trust.Control). Over it the
// root asks the leaf what a root user may reach there (LeafDescribe, for
// WatchCatalog) and to dial an app for a root user (AgentDial with user
// and roles, answered on Agent.Connect like an agent's dial: the leaf's
// link is an agentLink whose dials wait in s.agents). The leaf maps the
// roles, enforces its own RBAC and writes the audit events.

// describeTimeout bounds one LeafDescribe round trip.
const describeTimeout = 3 * time.Second

// leafLink is one leaf's control stream on this proxy.
type leafLink struct {
	*agentLink                         // id "leaf:<name>"; dials go through s.agents
	name       string                  // the leaf cluster's name
	publicAddr string                  // the leaf proxy's public address, from its hello
	end        context.CancelCauseFunc // ends the control stream; never nil

	mu      sync.Mutex
	pending map[uint64]chan *api.LeafDescribeResult // guarded by mu; buffered 1
}

// How long a refused leaf claim is remembered: it is shown in
// remote_cluster status while seen within refusalShown (a watching user's
// catalog pass, or the admin's own at `ctl get`), and audited again only
// after it was not seen for refusalMemory. At most maxRefusals lines are
// remembered per leaf: a leaf that makes up ever new claims is not audited
// beyond that (its users still get every line).
const (
	refusalShown  = 10 * watchInterval
	refusalMemory = 10 * time.Minute
	maxRefusals   = 1000
)

// leafHub holds the leaves connected to this proxy.
type leafHub struct {
	links linkSet[leafLink] // by leaf name

	mu      sync.Mutex
	nextID  uint64                          // guarded by mu
	refused map[string]map[string]time.Time // guarded by mu; leaf name, refusal line: when last seen
}

func (h *leafHub) attach(l *leafLink) (old *leafLink) { return h.links.attach(l.name, l) }

func (h *leafHub) detach(l *leafLink) { h.links.detach(l.name, l) }

func (h *leafHub) link(name string) *leafLink { return h.links.get(name) }

// all returns the connected leaves sorted by name.
func (h *leafHub) all() []*leafLink { return h.links.all() }

// answererFrom returns the ID the dials of a caller of Agent.Connect wait
// under: an agent's ID, or "leaf:<name>" for a leaf cluster answering its
// root's dial. The interceptor authenticated it (policy.go).
func answererFrom(ctx context.Context) (string, error) {
	if name, err := machineFrom(ctx, auth.RoleLeaf); err == nil {
		return auth.LeafUserPrefix + name, nil
	}
	return machineFrom(ctx, auth.RoleAgent)
}

type trustServer struct {
	api.UnimplementedTrustServer
	s *Server
}

// Join redeems a trusted_cluster join token for a leaf certificate.
func (t *trustServer) Join(ctx context.Context, req *api.JoinRequest) (*api.JoinResponse, error) {
	s := t.s
	name := req.GetHostName()
	cert, err := s.cfg.Auth.JoinLeaf(ctx, req.GetToken(), name, req.GetPublicKey())
	if err != nil {
		s.cfg.Logger.Info("leaf cluster join failed", "leaf", clip(name), "addr", peerAddr(ctx), "err", err)
		if errors.Is(err, auth.ErrInvalidJoinToken) {
			return nil, status.Error(codes.Unauthenticated, strings.Replace(err.Error(), "--type=app", "--type=trusted_cluster", 1))
		}
		return nil, grpcError(err)
	}
	s.cfg.Logger.Info("leaf cluster joined", "leaf", name, "addr", peerAddr(ctx))
	return &api.JoinResponse{CertificatePem: cert, CaPem: s.cfg.Auth.CA().CertPEM, ClusterName: s.cfg.ClusterName, AgentId: name}, nil
}

// Control serves a leaf's control stream until it ends, the leaf misses
// its heartbeats, its trust is removed or the proxy stops.
func (t *trustServer) Control(st api.Trust_ControlServer) error {
	s := t.s
	ctx, cancel := context.WithCancelCause(st.Context())
	defer cancel(nil)
	name, err := machineFrom(ctx, auth.RoleLeaf) // policy.go
	if err != nil {
		return err
	}
	first, err := st.Recv()
	if err != nil {
		return err
	}
	if first.GetHello() == nil {
		return status.Error(codes.InvalidArgument, "the first message of a leaf's control stream must be its hello")
	}
	link := &leafLink{
		agentLink:  newAgentLink(auth.LeafUserPrefix+name, peerAddr(ctx)),
		name:       name,
		publicAddr: first.GetHello().GetProxyPublicAddr(),
		pending:    map[uint64]chan *api.LeafDescribeResult{},
		end:        cancel,
	}
	if old := s.leaves.attach(link); old != nil {
		s.cfg.Logger.Info("leaf cluster reconnected; its older stream is replaced", "leaf", name)
	}
	defer s.leaves.detach(link)
	defer close(link.done)

	link.startWriter(ctx, st.Send, cancel)
	welcome := &api.ProxyMessage{Welcome: &api.AgentWelcome{HeartbeatMillis: s.cfg.AgentHeartbeat.Milliseconds(), ClusterName: s.cfg.ClusterName}}
	link.send <- welcome // the channel is empty: never blocks
	s.cfg.Logger.Info("leaf cluster connected", "leaf", name, "addr", link.addr, "proxy", link.publicAddr)

	msgs := make(chan *api.LeafMessage)
	recvErr := make(chan error, 1)
	go func() { // the one reader
		for {
			m, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	deadline := time.NewTimer(missedBeats * s.cfg.AgentHeartbeat)
	defer deadline.Stop()
	for {
		select {
		case m := <-msgs:
			deadline.Reset(missedBeats * s.cfg.AgentHeartbeat)
			switch {
			case m.GetGoodbye():
				s.cfg.Logger.Info("leaf cluster said goodbye", "leaf", name)
				return nil
			case m.GetCatalog() != nil:
				link.deliver(m.GetCatalog())
			}
		case err := <-recvErr:
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				err = nil
			}
			s.cfg.Logger.Info("leaf cluster disconnected", "leaf", name, "err", err)
			return err
		case <-ctx.Done():
			s.cfg.Logger.Info("leaf cluster disconnected", "leaf", name, "err", context.Cause(ctx))
			return nil
		case <-deadline.C:
			s.cfg.Logger.Info("leaf cluster missed its heartbeats: cutting it off", "leaf", name)
			return status.Error(codes.DeadlineExceeded, "no heartbeat")
		case <-s.ctx.Done():
			return status.Error(codes.Unavailable, "proxy is stopping")
		}
	}
}

func (l *leafLink) deliver(r *api.LeafDescribeResult) {
	l.mu.Lock()
	ch := l.pending[r.GetId()]
	delete(l.pending, r.GetId())
	l.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// describe asks the leaf what id (a user of this cluster) may reach there.
func (s *Server) describe(ctx context.Context, l *leafLink, id auth.Identity) (*api.LeafCatalog, error) {
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	s.leaves.mu.Lock()
	s.leaves.nextID++
	rid := s.leaves.nextID
	s.leaves.mu.Unlock()
	ch := make(chan *api.LeafDescribeResult, 1)
	l.mu.Lock()
	l.pending[rid] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, rid)
		l.mu.Unlock()
	}()
	msg := &api.ProxyMessage{Describe: &api.LeafDescribe{Id: rid, User: id.User, Roles: id.Roles}}
	select {
	case l.send <- msg:
	case <-l.done:
		return nil, fmt.Errorf("leaf cluster %s disconnected", l.name)
	case <-ctx.Done():
		return nil, fmt.Errorf("leaf cluster %s is not reading its control stream: %w", l.name, ctx.Err())
	}
	select {
	case r := <-ch:
		if r.GetError() != "" {
			return nil, fmt.Errorf("leaf cluster %s: %s", l.name, r.GetError())
		}
		return r.GetCatalog(), nil
	case <-l.done:
		return nil, fmt.Errorf("leaf cluster %s disconnected", l.name)
	case <-ctx.Done():
		return nil, fmt.Errorf("leaf cluster %s did not describe its catalog: %w", l.name, ctx.Err())
	}
}

// leafCatalogs is what id may reach in each leaf connected to this proxy,
// first joined first, each cut down to what the leaf may claim
// (leafclaims.go). A leaf that does not answer is left out (its apps stop
// resolving) and logged.
func (s *Server) leafCatalogs(ctx context.Context, id auth.Identity) []*api.LeafCatalog {
	if len(s.leaves.all()) == 0 {
		return nil
	}
	leaves, cl, err := s.leafClaims(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.Warn("leaf catalogs", "err", err)
		}
		return nil
	}
	var out []*api.LeafCatalog
	for _, lf := range leaves {
		l := s.leaves.link(lf.Name)
		if l == nil {
			cl.reserve(lf) // its grants stay its own while it is away
			continue
		}
		c, err := s.describe(ctx, l, id)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Warn("describe leaf cluster", "leaf", l.name, "user", id.User, "err", err)
			}
			cl.reserve(lf)
			continue
		}
		if c.GetApps() == nil {
			c.Apps = &api.ListAppsResponse{}
		}
		// The leaf speaks for itself, but not under another name.
		c.Apps.ClusterName = l.name
		if c.Apps.ProxyPublicAddr == "" {
			c.Apps.ProxyPublicAddr = l.publicAddr
		}
		c.Refused = cl.admit(lf, c)
		s.noteRefused(lf.Name, c.Refused)
		out = append(out, c)
	}
	return out
}

// leafClaims returns the leaves that joined, first joined first, and a
// pass of claims over what this cluster holds.
func (s *Server) leafClaims(ctx context.Context) ([]auth.Leaf, *claims, error) {
	leaves, err := s.cfg.Auth.ListLeaves(ctx)
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(leaves, func(a, b auth.Leaf) int { return a.Joined.Compare(b.Joined) })
	cfg, err := s.cfg.State.VNetConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	apps, err := s.cfg.State.Apps(ctx)
	if err != nil {
		return nil, nil, err
	}
	return leaves, newClaims(s.cfg.ClusterName, s.cfg.PublicAddr, cfg, apps), nil
}

// noteRefused remembers the refused claims of leaf and audits those not
// seen within refusalMemory: once per refusal, not at every catalog pass.
func (s *Server) noteRefused(leaf string, lines []string) {
	now := time.Now()
	var fresh []string
	s.leaves.mu.Lock()
	if s.leaves.refused == nil {
		s.leaves.refused = map[string]map[string]time.Time{}
	}
	seen := s.leaves.refused[leaf]
	if seen == nil {
		seen = map[string]time.Time{}
		s.leaves.refused[leaf] = seen
	}
	for line, t := range seen {
		if now.Sub(t) > refusalMemory {
			delete(seen, line)
		}
	}
	for _, line := range lines {
		if _, ok := seen[line]; !ok {
			if len(seen) >= maxRefusals {
				continue
			}
			fresh = append(fresh, line)
		}
		seen[line] = now
	}
	s.leaves.mu.Unlock()
	for _, line := range fresh {
		s.cfg.Logger.Info(audit.LeafClaimRefused, "leaf", leaf, "refused", line)
		s.emit(audit.Event{Time: now, Type: audit.LeafClaimRefused, User: auth.LeafUserPrefix + leaf, Cluster: leaf, Error: line})
	}
}

// recentRefused is what the root dropped of leaf's claims lately, sorted.
func (s *Server) recentRefused(leaf string) []string {
	s.leaves.mu.Lock()
	defer s.leaves.mu.Unlock()
	var out []string
	for line, t := range s.leaves.refused[leaf] {
		if time.Since(t) <= refusalShown {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// dialLeaf routes a user's dial to the leaf cluster req names, through the
// leaf's tunnel to this proxy. The leaf authorizes (with its role map and
// roles) and writes the audit events; this proxy logs the outcome.
func (s *Server) dialLeaf(ctx context.Context, id auth.Identity, req *api.DialRequest, reply DialReply) error {
	leaf := req.GetCluster()
	l := s.leaves.link(leaf)
	if l == nil {
		err := fmt.Errorf("leaf cluster %q is not connected to %s", leaf, s.cfg.ClusterName)
		s.cfg.Logger.Info("leaf dial refused", "user", id.User, "leaf", clip(leaf), "app", clip(req.GetApp()), "err", err)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, err)
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	leafConn, err := s.agents.request(dctx, l.agentLink, &api.AgentDial{
		App: req.GetApp(), Port: req.GetPort(), User: id.User, Roles: id.Roles,
		// The leaf audits the address this proxy saw; the client's own
		// word goes along as such.
		ClientAddr: peerAddr(ctx), ClientReportedAddr: req.GetClientAddr(),
	})
	cancel()
	if err != nil {
		if errors.Is(err, errAgentGone) {
			err = fmt.Errorf("leaf cluster %q disconnected", leaf)
		}
		s.cfg.Logger.Info("leaf dial refused", "user", id.User, "leaf", clip(leaf), "app", clip(req.GetApp()), "err", err)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, err)
	}
	conn, err := reply.Established()
	if err != nil {
		leafConn.Close()
		return err
	}
	finished := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(finished)
		// Tracked so that removing the user here cuts it at once.
		sctx, untrack := s.track(s.ctx, &openSession{user: id.User, generation: id.Generation, app: resource.NewApp(req.GetApp(), "", "", nil), leaf: leaf})
		defer untrack()
		res, err := relay.Splice(sctx, conn, leafConn)
		s.cfg.Logger.Info("leaf session ended", "user", id.User, "leaf", clip(leaf), "app", clip(req.GetApp()), "bytes_in", res.AToB, "bytes_out", res.BToA, "err", err)
	}()
	select {
	case <-finished:
	case <-conn.Done():
	}
	return nil
}

// checkRoleMap refuses a trusted_cluster whose role map names a role
// this (leaf) cluster does not have: it would grant nothing, silently.
func (s *Server) checkRoleMap(ctx context.Context, tc *resource.TrustedCluster) error {
	for i, m := range tc.Spec.RoleMap {
		if err := s.checkRolesExist(ctx, m.Local); err != nil {
			return fmt.Errorf("trusted_cluster %q: spec.role_map[%d].local: %w", tc.Name(), i, err)
		}
	}
	return nil
}

// remoteClusters returns the leaves that joined (or the one called name)
// as resources, with their grants, whether they are connected to this
// proxy, and what of their claims this proxy drops. It makes a catalog
// pass as the caller first, so that refusals show without a watching user.
func (s *Server) remoteClusters(ctx context.Context, name string) ([]resource.Resource, error) {
	if id, err := identityFrom(ctx); err == nil {
		s.leafCatalogs(ctx, id)
	}
	leaves, err := s.cfg.Auth.ListLeaves(ctx)
	if err != nil {
		return nil, err
	}
	var out []resource.Resource
	for _, lf := range leaves {
		if name != "" && lf.Name != name {
			continue
		}
		st := &resource.RemoteClusterStatus{Joined: lf.Joined}
		if l := s.leaves.link(lf.Name); l != nil {
			st.Connected, st.ProxyPublicAddr = true, l.publicAddr
			st.Refused = s.recentRefused(lf.Name)
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
func (s *Server) setRemoteCluster(ctx context.Context, rc *resource.RemoteCluster, force bool) error {
	leaves, err := s.cfg.Auth.ListLeaves(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(leaves, func(l auth.Leaf) bool { return l.Name == rc.Name() }) {
		return fmt.Errorf("remote_cluster %q: no leaf cluster of that name has joined (a remote_cluster is recorded when a leaf joins with a token from 'vnet ctl tokens add --type=trusted_cluster'): %w", rc.Name(), auth.ErrNoSuchResource)
	}
	if !force {
		return fmt.Errorf("remote_cluster %q already exists: use -f to overwrite its grants, or 'vnet ctl edit remote_cluster/%s'", rc.Name(), rc.Name())
	}
	cfg, err := s.cfg.State.VNetConfig(ctx)
	if err != nil {
		return err
	}
	if err := checkGrantedRange(rc.Spec.Grants.IPv4CIDRRange, rc.Name(), cfg.Spec.IPv4Prefix(), leaves); err != nil {
		return &resource.ValidationError{Kind: resource.KindRemoteCluster, Name: rc.Name(), Field: "spec.grants.ipv4_cidr_range", Reason: err.Error()}
	}
	return s.cfg.Auth.SetLeafGrants(ctx, rc.Name(), rc.Spec.Grants)
}

// leafTokenGrants returns the leaf grants a token request asks for, or
// nil if none.
func leafTokenGrants(req *api.AddTokenRequest) *resource.LeafGrants {
	if len(req.GetLeafZones()) == 0 && req.GetLeafIpv4CidrRange() == "" {
		return nil
	}
	return &resource.LeafGrants{Zones: req.GetLeafZones(), IPv4CIDRRange: req.GetLeafIpv4CidrRange()}
}

// addLeafToken makes a trusted_cluster join token whose leaves start with
// grants, refusing a range that overlaps this cluster's or a leaf's.
func (s *Server) addLeafToken(ctx context.Context, typ string, ttl time.Duration, g resource.LeafGrants) (string, time.Time, error) {
	if typ != auth.TokenTypeTrustedCluster {
		return "", time.Time{}, fmt.Errorf("--zones and --range are grants to leaf clusters: use them with --type=%s", auth.TokenTypeTrustedCluster)
	}
	if err := g.CheckAndSetDefaults(); err != nil {
		return "", time.Time{}, fmt.Errorf("token grants: %w", err)
	}
	cfg, err := s.cfg.State.VNetConfig(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	leaves, err := s.cfg.Auth.ListLeaves(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := checkGrantedRange(g.IPv4CIDRRange, "", cfg.Spec.IPv4Prefix(), leaves); err != nil {
		return "", time.Time{}, fmt.Errorf("token grants: ipv4_cidr_range: %w", err)
	}
	return s.cfg.Auth.AddLeafJoinToken(ctx, ttl, g)
}

// removeRemoteCluster ends the trust of a leaf: its record goes, so its
// certificate is refused from now on, and its tunnel here and the users'
// tunnels to it are cut.
func (s *Server) removeRemoteCluster(ctx context.Context, name string) error {
	if err := s.cfg.Auth.RemoveLeaf(ctx, name); err != nil {
		return err
	}
	if l := s.leaves.link(name); l != nil {
		l.end(fmt.Errorf("the trust of leaf cluster %s was removed", name))
	}
	s.cutLeaf(name) // its users' tunnels to it (sessions.go)
	s.leaves.mu.Lock()
	delete(s.leaves.refused, name)
	s.leaves.mu.Unlock()
	return nil
}
