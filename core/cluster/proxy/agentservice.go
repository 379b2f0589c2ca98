package proxy

import (
	"context"
	"errors"
	"io"
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

// agentRemoved is what a removed agent's control stream ends with.
func (s *Server) agentRemoved() error {
	return status.Error(codes.PermissionDenied, s.cfg.ClusterName+": this agent has been removed from the cluster: join it again with a new token")
}

type agentServer struct {
	api.UnimplementedAgentServer
	s *Server
}

// Join redeems an app join token for an agent certificate.
func (a *agentServer) Join(ctx context.Context, req *api.JoinRequest) (*api.JoinResponse, error) {
	cert, agent, err := a.s.cfg.Auth.JoinAgent(ctx, req.GetToken(), req.GetHostName(), req.GetPublicKey())
	if err != nil {
		a.s.cfg.Logger.Info("agent join failed", "host", clip(req.GetHostName()), "addr", peerAddr(ctx), "err", err)
		if errors.Is(err, auth.ErrInvalidJoinToken) {
			return nil, status.Error(codes.Unauthenticated, err.Error())
		}
		return nil, grpcError(err)
	}
	a.s.cfg.Logger.Info("agent joined", "agent", agent.ID, "host", agent.HostName, "addr", peerAddr(ctx))
	return &api.JoinResponse{CertificatePem: cert, CaPem: a.s.cfg.Auth.CA().CertPEM, ClusterName: a.s.cfg.ClusterName, AgentId: agent.ID}, nil
}

// Control serves an agent's control stream: registrations and heartbeats
// in, dial requests out. The agent's apps stay registered after the
// stream ends until their registrations expire (or at once on goodbye).
func (a *agentServer) Control(st api.Agent_ControlServer) error {
	s := a.s
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
	if old := s.agents.attach(link); old != nil {
		s.cfg.Logger.Info("agent reconnected; its older stream is replaced", "agent", agentID)
	}
	defer s.agents.detach(link)
	defer close(link.done)

	writeErr := make(chan error, 1)
	link.startWriter(ctx, st.Send, func(err error) { writeErr <- err })
	// The one reader.
	type recv struct {
		m   *api.AgentMessage
		err error
	}
	msgs := make(chan recv, 1)
	go func() {
		for {
			m, err := st.Recv()
			select {
			case msgs <- recv{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	// wanted is what the agent asks to serve: every heartbeat claims it
	// again (registry.register), so that a refused app is served once
	// what stood in its way has gone, and a removed agent is cut off.
	var wanted []*resource.App
	var invalid []claimRefusal
	var lastRefused []claimRefusal // as last sent to the agent
	claim := func(welcome bool) error {
		rctx, cancel := context.WithTimeout(s.ctx, registryTimeout)
		defer cancel()
		accepted, refused, err := s.registry.register(rctx, agentID, wanted)
		if errors.Is(err, auth.ErrNoSuchResource) {
			s.cfg.Logger.Info("agent was removed: cutting it off", "agent", agentID)
			// Removed through another proxy or the store: its app
			// connections here end too (Connect).
			link.remove()
			return s.agentRemoved()
		}
		if err != nil {
			return status.Errorf(codes.Unavailable, "register apps: %v", err)
		}
		refused = append(slices.Clip(invalid), refused...)
		link.setApps(accepted)
		fresh, err := s.registry.recordRefusals(rctx, agentID, refused)
		if err != nil {
			s.cfg.Logger.Warn("record refused claims", "agent", agentID, "err", err)
		}
		for _, c := range fresh {
			s.auditAgentClaimRefused(agentID, c)
		}
		if !welcome && slices.Equal(refused, lastRefused) {
			return nil
		}
		lastRefused = refused
		var lines []string
		for _, c := range refused {
			lines = append(lines, c.Reason)
		}
		s.cfg.Logger.Info("agent registered", "agent", agentID, "addr", link.addr, "apps", len(accepted), "refused", lines)
		msg := &api.ProxyMessage{Welcome: &api.AgentWelcome{
			HeartbeatMillis: s.cfg.AgentHeartbeat.Milliseconds(),
			Rejected:        lines,
			ClusterName:     s.cfg.ClusterName,
		}}
		select {
		case link.send <- msg:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	register := func(reg *api.AgentRegister) error {
		wanted, invalid = nil, nil
		for _, in := range reg.GetApps() {
			app, err := appFromAPI(in)
			if err != nil {
				invalid = append(invalid, claimRefusal{App: in.GetName(), Reason: err.Error()})
				continue
			}
			wanted = append(wanted, app)
		}
		return claim(true)
	}
	if err := register(first.GetRegister()); err != nil {
		return err
	}
	// An agent that stops beating without its connection breaking (a hung
	// process, a silent network) is cut off like one that disconnected.
	deadline := time.NewTimer(s.registry.ttl)
	defer deadline.Stop()
	for {
		select {
		case r := <-msgs:
			if errors.Is(r.err, io.EOF) || status.Code(r.err) == codes.Canceled {
				s.cfg.Logger.Info("agent disconnected", "agent", agentID)
				return nil
			}
			if r.err != nil {
				s.cfg.Logger.Info("agent control stream broke", "agent", agentID, "err", r.err)
				return r.err
			}
			deadline.Reset(s.registry.ttl)
			switch m := r.m; {
			case m.GetGoodbye():
				rctx, cancel := context.WithTimeout(s.ctx, registryTimeout)
				err := s.registry.forget(rctx, agentID)
				cancel()
				s.cfg.Logger.Info("agent said goodbye", "agent", agentID, "err", err)
				return nil
			case m.GetRegister() != nil:
				if err := register(m.GetRegister()); err != nil {
					return err
				}
			case m.GetHeartbeat():
				if err := claim(false); status.Code(err) == codes.PermissionDenied {
					return err
				} else if err != nil {
					s.cfg.Logger.Warn("renew agent registrations", "agent", agentID, "err", err)
				}
			}
		case <-link.removed:
			s.cfg.Logger.Info("agent was removed: cutting it off", "agent", agentID)
			return s.agentRemoved()
		case err := <-writeErr:
			return err
		case <-ctx.Done():
			// The connection ended: the reader may have seen it first and
			// left without a word.
			s.cfg.Logger.Info("agent disconnected", "agent", agentID, "err", context.Cause(ctx))
			return nil
		case <-deadline.C:
			s.cfg.Logger.Info("agent missed its heartbeats: cutting it off", "agent", agentID)
			return status.Error(codes.DeadlineExceeded, "no heartbeat")
		case <-s.ctx.Done():
			return status.Error(codes.Unavailable, "proxy is stopping")
		}
	}
}

// Connect takes an agent's answer to one of this proxy's dials and hands
// the stream to the dial waiting for it; the handler lives as long as the
// connection.
func (a *agentServer) Connect(st api.Agent_ConnectServer) error {
	s := a.s
	// Leaf clusters answer their root's dials here too (leaves.go).
	agentID, err := answererFrom(st.Context())
	if err != nil {
		return err
	}
	res, err := tunnel.AcceptAnswer(st)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	p := s.agents.take(res.GetDialId(), agentID)
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
	if l := s.agents.link(agentID); l != nil {
		removed = l.removed
	}
	select {
	case <-conn.Done():
	case <-removed:
		// 'vnet ctl agents rm' cuts its connections too. Ending the stream
		// (not closing conn, which the relay would take for its own
		// teardown) makes the relay fail and abort both sides.
		return status.Error(codes.PermissionDenied, "agent removed from the cluster")
	case <-s.ctx.Done():
		conn.Close()
	}
	return nil
}
