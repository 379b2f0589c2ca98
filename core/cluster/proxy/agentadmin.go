package proxy

import (
	"context"
	"fmt"
	"slices"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// The administration of agents (admin only: policy.go): 'vnet ctl agents
// ls' and 'agents rm', and the refused claims 'vnet ctl get apps' shows.

// ListAgents shows the agents that have joined and what they serve.
func (c *clusterServer) ListAgents(ctx context.Context, _ *api.ListAgentsRequest) (*api.ListAgentsResponse, error) {
	agents, err := c.s.cfg.Auth.ListAgents(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	serving, err := c.s.registry.serving(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.ListAgentsResponse{}
	for _, a := range agents {
		out.Agents = append(out.Agents, &api.AgentInfo{
			Id: a.ID, HostName: a.HostName, JoinedUnix: a.Joined.Unix(),
			Connected: len(serving[a.ID]) > 0 || c.s.agents.link(a.ID) != nil,
			Apps:      serving[a.ID], AllowedApps: a.Limits.Apps, AllowedLabels: a.Limits.Labels,
		})
	}
	return out, nil
}

// RemoveAgent removes an agent: its record first (its certificate stops
// working, and no proxy renews its registrations after that), then its
// control stream and app connections on this proxy, its registrations and
// the apps only it served. A proxy holding its stream cuts it at the next
// heartbeat.
func (c *clusterServer) RemoveAgent(ctx context.Context, req *api.RemoveAgentRequest) (*api.RemoveAgentResponse, error) {
	id, _ := identityFrom(ctx)
	s := c.s
	if err := s.cfg.Auth.RemoveAgent(ctx, req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	if l := s.agents.link(req.GetId()); l != nil {
		l.remove()
	}
	// The users' tunnels through it, also those forwarded to the proxy
	// that holds its stream (sessions.go).
	s.cutAgent(req.GetId())
	before, err := s.cfg.State.Apps(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	if err := s.registry.forget(ctx, req.GetId()); err != nil {
		return nil, grpcError(fmt.Errorf("agent %s is removed, but its apps are not yet: %w", req.GetId(), err))
	}
	after, err := s.cfg.State.Apps(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.RemoveAgentResponse{}
	for _, a := range before {
		if !slices.ContainsFunc(after, func(b *resource.App) bool { return b.Name() == a.Name() }) {
			out.AppsRemoved = append(out.AppsRemoved, a.Name())
		}
	}
	s.cfg.Logger.Info("agent removed", "agent", req.GetId(), "apps_removed", out.AppsRemoved, "by", id.User)
	return out, nil
}

// refusedClaims returns one line per refused claim of an agent still
// making it, for app name (every app if "").
func (s *Server) refusedClaims(ctx context.Context, name string) ([]string, error) {
	all, err := s.registry.refusals(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ar := range all {
		for _, c := range ar.Claims {
			if name == "" || c.App == name {
				out = append(out, fmt.Sprintf("agent %s: %s", ar.Agent, c.Reason))
			}
		}
	}
	return out, nil
}
