package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/appcache"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustermetrics"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/relay"
)

// The root's side of leaf clusters. A leaf's proxy joins with a
// trusted_cluster token (Trust.Join) and keeps one outbound connection to
// a root proxy carrying its control stream (Trust.Control). Over it the
// root asks the leaf what a root user may reach there (LeafDescribe, for
// WatchCatalog) and to dial an app for a root user (AgentDial with user
// and roles, answered on Agent.Connect like an agent's dial: the leaf's
// link is an agentLink whose dials wait in the agents' hub). The leaf
// maps the roles, enforces its own RBAC and writes the audit events.

// describeTimeout bounds one LeafDescribe round trip. A var for tests.
var describeTimeout = 3 * time.Second

// leafLink is one leaf's control stream on this proxy.
type leafLink struct {
	*agentLink        // id "leaf:<name>"; dials wait in the agents' hub
	name       string // the leaf cluster's name
	publicAddr string // the leaf proxy's public address, from its hello

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
	refusalShown  = 10 * leafInterval
	refusalMemory = 10 * time.Minute
	maxRefusals   = 1000
)

// leaves is the part of the proxy that serves leaf clusters: their joins
// and control streams, their catalogs in the root's WatchCatalog, users'
// dials to them, and their administration (leafadmin.go).
type leaves struct {
	cluster, publicAddr string
	heartbeat           time.Duration // the leaves' interval, as the agents'
	dialTimeout         time.Duration
	log                 *slog.Logger
	auth                *auth.Service   // leaves' records
	state               *state.State    // trusted clusters
	cache               *appcache.Cache // vnet_config and apps, for what leaves may claim
	life                *life
	audit               *auditor
	sessions            *sessionSet // users' tunnels to a leaf end with its trust
	rbac                *rbac       // a trusted_cluster's role map names roles that exist
	dials               *agentHub   // a leaf's dials wait with the agents'
	metrics             *clustermetrics.Proxy

	links linkSet[leafLink] // by leaf name

	mu      sync.Mutex
	nextID  uint64                          // guarded by mu
	refused map[string]map[string]time.Time // guarded by mu; leaf name, refusal line: when last seen
}

// answererFrom returns the ID the dials of a caller of Agent.Connect wait
// under: an agent's ID, or "leaf:<name>" for a leaf cluster answering its
// root's dial. The interceptor authenticated it (policy.go).
func answererFrom(ctx context.Context) (string, error) {
	if name, err := machineFrom(ctx, auth.RoleLeaf); err == nil {
		return auth.LeafUserPrefix + name, nil
	}
	return machineFrom(ctx, auth.RoleAgent)
}

// join serves Trust.Join: it redeems a trusted_cluster join token for a
// leaf certificate.
func (lv *leaves) join(ctx context.Context, req *api.JoinRequest) (*api.JoinResponse, error) {
	name := req.GetHostName()
	cert, err := lv.auth.JoinLeaf(ctx, req.GetToken(), name, req.GetPublicKey())
	if err != nil {
		lv.log.Info("leaf cluster join failed", "leaf", clip(name), "addr", peerAddr(ctx), "err", err)
		if errors.Is(err, auth.ErrInvalidJoinToken) {
			return nil, status.Error(codes.Unauthenticated, strings.Replace(err.Error(), "--type=app", "--type=trusted_cluster", 1))
		}
		return nil, grpcError(err)
	}
	lv.log.Info("leaf cluster joined", "leaf", name, "addr", peerAddr(ctx))
	return &api.JoinResponse{CertificatePem: cert, CaPem: lv.auth.CA().CertPEM, ClusterName: lv.cluster, AgentId: name}, nil
}

// control serves a leaf's control stream (control.go) until it ends,
// the leaf misses its heartbeats, its trust is removed or the proxy stops.
func (lv *leaves) control(st api.Trust_ControlServer) error {
	ctx := st.Context()
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
	}
	c := &control[*api.LeafMessage]{
		kind: "leaf cluster", key: "leaf", name: name, link: link.agentLink,
		beats: missedBeats * lv.heartbeat, stopping: lv.life.ctx.Done(), log: lv.log,
		attach: func() bool { return lv.links.attach(name, link) != nil },
		detach: func() { lv.links.detach(name, link) },
		h:      &leafControl{leaves: lv, link: link},
	}
	return c.serve(st)
}

// leafControl is what a leaf's control stream does (controlHandler).
type leafControl struct {
	leaves *leaves
	link   *leafLink
}

func (h *leafControl) begin(context.Context) error {
	lv := h.leaves
	h.link.send <- &api.ProxyMessage{Welcome: &api.AgentWelcome{HeartbeatMillis: lv.heartbeat.Milliseconds(), ClusterName: lv.cluster}} // the channel is empty: never blocks
	lv.log.Info("leaf cluster connected", "leaf", h.link.name, "addr", h.link.addr, "proxy", h.link.publicAddr)
	return nil
}

func (h *leafControl) handle(_ context.Context, m *api.LeafMessage) (bool, error) {
	switch {
	case m.GetGoodbye():
		h.leaves.log.Info("leaf cluster said goodbye", "leaf", h.link.name)
		return true, nil
	case m.GetCatalog() != nil:
		h.link.deliver(m.GetCatalog())
	}
	return false, nil
}

// removed: the leaf learns that its trust is gone when it dials again
// and its certificate is refused.
func (h *leafControl) removed() error { return nil }

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
func (lv *leaves) describe(ctx context.Context, l *leafLink, id auth.Identity) (*api.LeafCatalog, error) {
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	lv.mu.Lock()
	lv.nextID++
	rid := lv.nextID
	lv.mu.Unlock()
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

// catalogs is what id may reach in each leaf connected to this proxy,
// first joined first, each cut down to what the leaf may claim
// (leafclaims.go). The leaves are asked at once, each within
// describeTimeout; a leaf that does not answer is left out (its apps stop
// resolving) and logged.
func (lv *leaves) catalogs(ctx context.Context, id auth.Identity) []*api.LeafCatalog {
	if len(lv.links.all()) == 0 {
		return nil
	}
	joined, err := lv.joined(ctx)
	if err != nil {
		return nil
	}
	answers := make(chan leafAnswer, len(joined)) // never blocks a describe
	asked := 0
	for _, lf := range joined {
		if l := lv.links.get(lf.Name); l != nil {
			asked++
			go func() { answers <- lv.ask(ctx, l, id) }()
		}
	}
	got := map[string]*api.LeafCatalog{}
	for range asked {
		a := <-answers
		got[a.name] = a.c
	}
	return lv.admit(joined, got)
}

// follow asks every leaf connected here what id (its roles as roles
// returns them) may reach there, every leafInterval, until ctx is done,
// and calls emit with the leaves' catalogs (as catalogs has them, and
// settled when every leaf asked has answered or failed)
// whenever they may have changed. Each leaf is asked on its own: one
// still answering is not asked again, and its catalog stays the one it
// last gave, so a silent leaf delays only its own catalog (it is left out
// once its describeTimeout passes). It returns when every question it
// asked has ended.
func (lv *leaves) follow(ctx context.Context, id auth.Identity, roles func() []string, emit func(cs []*api.LeafCatalog, settled bool)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	answers := make(chan leafAnswer)
	got := map[string]*api.LeafCatalog{} // by leaf name: its last answer; nil: failed
	inflight := map[string]bool{}
	var joined []auth.Leaf
	var admittedAt int64 = -1 // the cache revision of the last emit
	settledSent := false      // an emit said no question was open
	changed := true
	tick := time.NewTicker(leafInterval)
	defer tick.Stop()
	for {
		// A round: ask the leaves not answering already. With no leaf
		// connected the round waits for one to attach instead of the
		// ticker: a thousand idle watchers each woke every second.
		attached := lv.links.attachedSignal()
		noLinks := len(lv.links.all()) == 0
		if noLinks {
			joined = nil
		} else if j, err := lv.joined(ctx); err == nil {
			joined = j
		}
		connected := map[string]bool{}
		for _, lf := range joined {
			l := lv.links.get(lf.Name)
			if l == nil {
				continue
			}
			connected[lf.Name] = true
			if inflight[lf.Name] {
				continue
			}
			inflight[lf.Name] = true
			asking := id
			asking.Roles = roles()
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := lv.ask(ctx, l, asking)
				select {
				case answers <- a:
				case <-ctx.Done():
				}
			}()
		}
		for name := range got {
			if !connected[name] {
				delete(got, name)
				changed = true
			}
		}
		for {
			// The claims depend on this cluster's apps too: admitted
			// again after they changed, but only with leaves to admit.
			// The first time no question is open is emitted too.
			settled := !slices.Contains(slices.Collect(maps.Values(inflight)), true)
			first := settled && !settledSent
			switch rev := lv.cache.Revision(); {
			case len(joined) == 0 && (changed || first):
				emit(nil, settled)
				changed = false
			case len(joined) > 0 && (changed || first || rev != admittedAt):
				emit(lv.admit(joined, got), settled)
				changed, admittedAt = false, rev
			}
			settledSent = settledSent || settled
			select {
			case <-ctx.Done():
				return
			case a := <-answers:
				inflight[a.name] = false
				if old, ok := got[a.name]; !ok || !proto.Equal(old, a.c) {
					got[a.name], changed = a.c, true
				}
				continue
			case <-tickOrNil(tick, noLinks):
			case <-attached:
			}
			break
		}
	}
}

// tickOrNil is t's channel, or nil (never ready) when off.
func tickOrNil(t *time.Ticker, off bool) <-chan time.Time {
	if off {
		return nil
	}
	return t.C
}

// joined is the leaves that joined this cluster, first joined first.
func (lv *leaves) joined(ctx context.Context) ([]auth.Leaf, error) {
	joined, err := lv.auth.ListLeaves(ctx)
	if err != nil {
		if ctx.Err() == nil {
			lv.log.Warn("leaf catalogs", "err", err)
		}
		return nil, err
	}
	slices.SortStableFunc(joined, func(a, b auth.Leaf) int { return a.Joined.Compare(b.Joined) })
	return joined, nil
}

// leafAnswer is a leaf's catalog for a user; c is nil when it failed.
type leafAnswer struct {
	name string
	c    *api.LeafCatalog
}

// ask describes id's catalog in the leaf l, named as l.
func (lv *leaves) ask(ctx context.Context, l *leafLink, id auth.Identity) leafAnswer {
	c, err := lv.describe(ctx, l, id)
	if err != nil {
		if ctx.Err() == nil {
			lv.log.Warn("describe leaf cluster", "leaf", l.name, "user", id.User, "err", err)
		}
		return leafAnswer{name: l.name}
	}
	if c.GetApps() == nil {
		c.Apps = &api.ListAppsResponse{}
	}
	// The leaf speaks for itself, but not under another name.
	c.Apps.ClusterName = l.name
	if c.Apps.ProxyPublicAddr == "" {
		c.Apps.ProxyPublicAddr = l.publicAddr
	}
	return leafAnswer{name: l.name, c: c}
}

// admit cuts the leaves' catalogs (by name; nil: none) down to their
// claims, first joined first, over what this cluster holds (the cache).
func (lv *leaves) admit(joined []auth.Leaf, got map[string]*api.LeafCatalog) []*api.LeafCatalog {
	cfg, apps := lv.cache.Resources()
	cl := newClaims(lv.cluster, lv.publicAddr, cfg, apps)
	var out []*api.LeafCatalog
	for _, lf := range joined {
		c := got[lf.Name]
		if c == nil {
			cl.reserve(lf) // its grants stay its own while it is away
			continue
		}
		c = proto.Clone(c).(*api.LeafCatalog)
		c.Refused = cl.admit(lf, c)
		lv.noteRefused(lf.Name, c.Refused)
		out = append(out, c)
	}
	return out
}

// noteRefused remembers the refused claims of leaf and audits those not
// seen within refusalMemory: once per refusal, not at every catalog pass.
func (lv *leaves) noteRefused(leaf string, lines []string) {
	now := time.Now()
	var fresh []string
	lv.mu.Lock()
	if lv.refused == nil {
		lv.refused = map[string]map[string]time.Time{}
	}
	seen := lv.refused[leaf]
	if seen == nil {
		seen = map[string]time.Time{}
		lv.refused[leaf] = seen
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
	lv.mu.Unlock()
	for _, line := range fresh {
		lv.log.Info(audit.LeafClaimRefused, "leaf", leaf, "refused", line)
		lv.audit.emit(audit.Event{Time: now, Type: audit.LeafClaimRefused, User: auth.LeafUserPrefix + leaf, Cluster: leaf, Error: line})
	}
}

// recentRefused is what the root dropped of leaf's claims lately, sorted.
func (lv *leaves) recentRefused(leaf string) []string {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	var out []string
	for line, t := range lv.refused[leaf] {
		if time.Since(t) <= refusalShown {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// dial routes a user's dial to the leaf cluster req names, through the
// leaf's tunnel to this proxy. The leaf authorizes (with its role map and
// roles) and writes the audit events; this proxy logs the outcome.
func (lv *leaves) dial(ctx context.Context, id auth.Identity, req *api.DialRequest, reply DialReply) error {
	leaf := req.GetCluster()
	l := lv.links.get(leaf)
	if l == nil {
		err := fmt.Errorf("leaf cluster %q is not connected to %s", leaf, lv.cluster)
		lv.log.Info("leaf dial refused", "user", id.User, "leaf", clip(leaf), "app", clip(req.GetApp()), "err", err)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, err)
	}
	dctx, cancel := context.WithTimeout(ctx, lv.dialTimeout)
	leafConn, err := lv.dials.request(dctx, l.agentLink, &api.AgentDial{
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
		lv.log.Info("leaf dial refused", "user", id.User, "leaf", clip(leaf), "app", clip(req.GetApp()), "err", err)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, err)
	}
	conn, err := reply.Established()
	if err != nil {
		leafConn.Close()
		return err
	}
	finished := make(chan struct{})
	lv.life.spawn(func() {
		defer close(finished)
		// Tracked so that removing the user here cuts it at once.
		sctx, untrack := lv.sessions.track(lv.life.ctx, &openSession{user: id.User, generation: id.Generation, app: resource.NewApp(req.GetApp(), "", "", nil), leaf: leaf})
		defer untrack()
		ended := lv.metrics.SessionStarted()
		res, err := relay.Splice(sctx, conn, leafConn)
		ended(res.AToB, res.BToA)
		lv.log.Info("leaf session ended", "user", id.User, "leaf", clip(leaf), "app", clip(req.GetApp()), "bytes_in", res.AToB, "bytes_out", res.BToA, "err", err)
	})
	select {
	case <-finished:
	case <-conn.Done():
	}
	return nil
}
