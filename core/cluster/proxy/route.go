package proxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// route reaches app's target (app has been narrowed to one target by
// WithTarget). Apps of the cluster's own config and 'vnet ctl create' are
// dialled by the proxy itself; apps that agents registered are reached
// through a live agent: one connected here first, then one connected to
// another proxy of the cluster (forwarded over the Peer service), trying
// the next when a dial fails. target names what was dialled, for the
// audit log; agent is the agent the connection goes through, if any (its
// removal ends the connection: sessions.go).
func (t *tunnels) route(ctx context.Context, app *resource.App) (conn net.Conn, target, agent string, err error) {
	target = app.Spec.DialAddr()
	if isAgentApp(app) {
		conn, agent, err := t.agents.dial(ctx, app, target)
		if err == nil {
			target = "agent " + agent + " " + target
		}
		return conn, target, agent, err
	}
	dctx, cancel := context.WithTimeout(ctx, t.dialTimeout)
	defer cancel()
	conn, err = t.dialApp(dctx, "tcp", target)
	if err != nil {
		return nil, target, "", fmt.Errorf("app %q at %s: %w", app.Name(), target, err)
	}
	return conn, target, "", nil
}

// dial reaches app's target through a live agent and returns the
// connection and the agent that answered.
func (a *agents) dial(ctx context.Context, app *resource.App, target string) (net.Conn, string, error) {
	regs, err := a.registry.live(ctx, app.Name())
	if err != nil {
		return nil, "", fmt.Errorf("app %q: find its agents: %w", app.Name(), err)
	}
	rand.Shuffle(len(regs), func(i, j int) { regs[i], regs[j] = regs[j], regs[i] })
	// Agents connected here first: no extra hop.
	local := regs[:0:0]
	var remote []registration
	for _, r := range regs {
		if r.Proxy == a.registry.self {
			local = append(local, r)
		} else {
			remote = append(remote, r)
		}
	}
	port := portOf(target)
	var errs []string
	for _, r := range append(local, remote...) {
		var conn net.Conn
		var err error
		if r.Proxy == a.registry.self {
			l := a.hub.link(r.Agent)
			if l == nil {
				errs = append(errs, fmt.Sprintf("agent %s: %v", r.Agent, errAgentGone))
				continue
			}
			conn, err = a.dialAgent(ctx, l, app.Name(), port, "")
		} else {
			conn, err = a.dialPeer(ctx, r.Proxy, app.Name(), port)
		}
		if err == nil {
			return conn, r.Agent, nil
		}
		errs = append(errs, fmt.Sprintf("agent %s via %s: %v", r.Agent, r.Proxy, err))
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("app %q: no agent serving it is connected", app.Name())
	}
	return nil, "", fmt.Errorf("app %q: %w", app.Name(), errors.New(strings.Join(errs, "; ")))
}

// dialPeer is one forwarded dial, bounded by the dial timeout.
func (a *agents) dialPeer(ctx context.Context, peer, app string, port uint16) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, a.dialTimeout)
	defer cancel()
	return a.peers.dial(dctx, peer, app, port, "")
}
