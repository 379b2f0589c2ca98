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

// list serves ListAgents: the agents that have joined and what they
// serve.
func (a *agents) list(ctx context.Context) (*api.ListAgentsResponse, error) {
	joined, err := a.auth.ListAgents(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	serving, err := a.registry.serving(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.ListAgentsResponse{}
	for _, j := range joined {
		out.Agents = append(out.Agents, &api.AgentInfo{
			Id: j.ID, HostName: j.HostName, JoinedUnix: j.Joined.Unix(),
			Connected: len(serving[j.ID]) > 0 || a.hub.link(j.ID) != nil,
			Apps:      serving[j.ID], AllowedApps: j.Limits.Apps, AllowedLabels: j.Limits.Labels,
		})
	}
	return out, nil
}

// remove serves RemoveAgent: it removes an agent: its record first (its certificate stops
// working, and no proxy renews its registrations after that), then its
// control stream and app connections on this proxy, its registrations and
// the apps only it served. A proxy holding its stream cuts it at the next
// heartbeat.
func (a *agents) remove(ctx context.Context, req *api.RemoveAgentRequest) (*api.RemoveAgentResponse, error) {
	id, _ := identityFrom(ctx)
	if err := a.auth.RemoveAgent(ctx, req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	if l := a.hub.link(req.GetId()); l != nil {
		l.remove()
	}
	// The users' tunnels through it, also those forwarded to the proxy
	// that holds its stream (sessions.go).
	a.sessions.cutAgent(req.GetId())
	before, err := a.state.Apps(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	if err := a.registry.forget(ctx, req.GetId()); err != nil {
		return nil, grpcError(fmt.Errorf("agent %s is removed, but its apps are not yet: %w", req.GetId(), err))
	}
	after, err := a.state.Apps(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.RemoveAgentResponse{}
	for _, app := range before {
		if !slices.ContainsFunc(after, func(b *resource.App) bool { return b.Name() == app.Name() }) {
			out.AppsRemoved = append(out.AppsRemoved, app.Name())
		}
	}
	a.log.Info("agent removed", "agent", req.GetId(), "apps_removed", out.AppsRemoved, "by", id.User)
	return out, nil
}

// refusedClaims returns one line per refused claim of an agent still
// making it, for app name (every app if "").
func (a *agents) refusedClaims(ctx context.Context, name string) ([]string, error) {
	all, err := a.registry.refusals(ctx)
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
