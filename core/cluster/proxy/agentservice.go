package proxy

import (
	"context"
	"errors"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/tunnel"
)

// registryTimeout bounds one round of store writes for an agent.
const registryTimeout = 10 * time.Second

// removedErr is what a removed agent's control stream ends with.
func (a *agents) removedErr() error {
	return status.Error(codes.PermissionDenied, a.cluster+": this agent has been removed from the cluster: join it again with a new token")
}

// join serves Agent.Join: it redeems an app join token for an agent
// certificate.
func (a *agents) join(ctx context.Context, req *api.JoinRequest) (*api.JoinResponse, error) {
	cert, agent, err := a.auth.JoinAgent(ctx, req.GetToken(), req.GetHostName(), req.GetPublicKey())
	if err != nil {
		a.log.Info("agent join failed", "host", clip(req.GetHostName()), "addr", peerAddr(ctx), "err", err)
		if errors.Is(err, auth.ErrInvalidJoinToken) {
			return nil, status.Error(codes.Unauthenticated, err.Error())
		}
		return nil, grpcError(err)
	}
	a.log.Info("agent joined", "agent", agent.ID, "host", agent.HostName, "addr", peerAddr(ctx))
	return &api.JoinResponse{CertificatePem: cert, CaPem: a.auth.CA().CertPEM, ClusterName: a.cluster, AgentId: agent.ID}, nil
}

// control serves an agent's control stream (control.go): registrations
// and heartbeats in, dial requests out. The agent's apps stay registered
// after the stream ends until their registrations expire (or at once on
// goodbye).
func (a *agents) control(st api.Agent_ControlServer) error {
	ctx := st.Context()
	agentID, err := machineFrom(ctx, auth.RoleAgent) // policy.go
	if err != nil {
		return err
	}
	first, err := st.Recv()
	if err != nil {
		return err
	}
	if first.GetRegister() == nil {
		return status.Error(codes.InvalidArgument, "the first message of a control stream must register the agent's apps")
	}
	link := newAgentLink(agentID, peerAddr(ctx))
	h := &agentControl{agents: a, id: agentID, link: link, first: first.GetRegister()}
	c := &control[*api.AgentMessage]{
		kind: "agent", key: "agent", name: agentID, link: link,
		beats: a.registry.ttl, stopping: a.life.ctx.Done(), log: a.log,
		attach: func() bool { return a.hub.attach(link) != nil },
		detach: func() { a.hub.detach(link) },
		h:      h,
	}
	return c.serve(st)
}

// agentControl is what an agent's control stream does (controlHandler).
type agentControl struct {
	agents *agents
	id     string
	link   *agentLink
	first  *api.AgentRegister

	// wanted is what the agent asks to serve: every heartbeat claims it
	// again (registry.register), so that a refused app is served once
	// what stood in its way has gone, and a removed agent is cut off.
	wanted      []*resource.App
	invalid     []claimRefusal
	lastRefused []claimRefusal // as last sent to the agent
}

func (h *agentControl) begin(ctx context.Context) error { return h.register(ctx, h.first) }

func (h *agentControl) handle(ctx context.Context, m *api.AgentMessage) (bool, error) {
	a := h.agents
	switch {
	case m.GetGoodbye():
		rctx, cancel := context.WithTimeout(a.life.ctx, registryTimeout)
		err := a.registry.forget(rctx, h.id)
		cancel()
		a.log.Info("agent said goodbye", "agent", h.id, "err", err)
		return true, nil
	case m.GetRegister() != nil:
		return false, h.register(ctx, m.GetRegister())
	case m.GetHeartbeat():
		if err := h.claim(ctx, false); status.Code(err) == codes.PermissionDenied {
			return false, err
		} else if err != nil {
			a.log.Warn("renew agent registrations", "agent", h.id, "err", err)
		}
	}
	return false, nil
}

func (h *agentControl) removed() error { return h.agents.removedErr() }

// register takes what reg asks to serve and claims it.
func (h *agentControl) register(ctx context.Context, reg *api.AgentRegister) error {
	h.wanted, h.invalid = nil, nil
	for _, in := range reg.GetApps() {
		app, err := appFromAPI(in)
		if err != nil {
			h.invalid = append(h.invalid, claimRefusal{App: in.GetName(), Reason: err.Error()})
			continue
		}
		h.wanted = append(h.wanted, app)
	}
	return h.claim(ctx, true)
}

// claim registers the wanted apps again and tells the agent what was
// refused, if that changed (always when welcome).
func (h *agentControl) claim(ctx context.Context, welcome bool) error {
	a := h.agents
	rctx, cancel := context.WithTimeout(a.life.ctx, registryTimeout)
	defer cancel()
	accepted, refused, err := a.registry.register(rctx, h.id, h.wanted)
	if errors.Is(err, auth.ErrNoSuchResource) {
		a.log.Info("agent was removed: cutting it off", "agent", h.id)
		// Removed through another proxy or the store: its app
		// connections here end too (connect).
		h.link.remove()
		return a.removedErr()
	}
	if err != nil {
		return status.Errorf(codes.Unavailable, "register apps: %v", err)
	}
	refused = append(slices.Clip(h.invalid), refused...)
	h.link.setApps(accepted)
	fresh, err := a.registry.recordRefusals(rctx, h.id, refused)
	if err != nil {
		a.log.Warn("record refused claims", "agent", h.id, "err", err)
	}
	for _, c := range fresh {
		a.audit.agentClaimRefused(h.id, c)
	}
	if !welcome && slices.Equal(refused, h.lastRefused) {
		return nil
	}
	h.lastRefused = refused
	var lines []string
	for _, c := range refused {
		lines = append(lines, c.Reason)
	}
	a.log.Info("agent registered", "agent", h.id, "addr", h.link.addr, "apps", len(accepted), "refused", lines)
	msg := &api.ProxyMessage{Welcome: &api.AgentWelcome{
		HeartbeatMillis: a.heartbeat.Milliseconds(),
		Rejected:        lines,
		ClusterName:     a.cluster,
	}}
	select {
	case h.link.send <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connect serves Agent.Connect: it takes an agent's answer to one of this
// proxy's dials and hands the stream to the dial waiting for it; the
// handler lives as long as the connection.
func (a *agents) connect(st api.Agent_ConnectServer) error {
	// Leaf clusters answer their root's dials here too (leaves.go).
	agentID, err := answererFrom(st.Context())
	if err != nil {
		return err
	}
	res, err := tunnel.AcceptAnswer(st)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	p := a.hub.take(res.GetDialId(), agentID)
	if p == nil {
		return status.Errorf(codes.NotFound, "no dial %d of agent %s is waiting (it timed out)", res.GetDialId(), agentID)
	}
	if res.GetError() != "" {
		p.ch <- answer{err: tunnel.ResultError(res)}
		return nil
	}
	conn := tunnel.ServerConn(st, "agent "+agentID)
	p.ch <- answer{conn: conn}
	var removed <-chan struct{} // nil (never) for a leaf's answer
	if l := a.hub.link(agentID); l != nil {
		removed = l.removed
	}
	select {
	case <-conn.Done():
	case <-removed:
		// 'vnet ctl agents rm' cuts its connections too. Ending the stream
		// (not closing conn, which the relay would take for its own
		// teardown) makes the relay fail and abort both sides.
		return status.Error(codes.PermissionDenied, "agent removed from the cluster")
	case <-a.life.ctx.Done():
		conn.Close()
	}
	return nil
}
