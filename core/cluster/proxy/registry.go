package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// The registry records in the store which agent serves which app through
// which proxy, so that every proxy sharing the store can route a dial:
//
//	/agent_apps/<app>/<agent id> -> registration (JSON)
//
// An agent's app is also an app resource like any other (so listing,
// watching and RBAC need nothing new), marked with OriginLabel. The
// resource exists while at least one live registration does: a proxy
// renews its agents' registrations at every heartbeat, and every proxy
// sweeps expired ones and the agent apps left without any.
const registryPrefix = "/agent_apps/"

// OriginLabel marks the apps that agents registered; its value is
// OriginAgent. Apps without it (cluster.yaml, 'vnet ctl create') are never
// replaced or removed by agents.
const (
	OriginLabel = "vnet/origin"
	OriginAgent = "agent"
)

// missedBeats is how many heartbeats an agent may miss before its apps
// are gone.
const missedBeats = 3

// registration is one agent serving one app.
type registration struct {
	Agent   string    `json:"agent"`
	Proxy   string    `json:"proxy"` // peer address of the proxy holding the agent's tunnel
	Expires time.Time `json:"expires"`
}

func registrationKey(app, agent string) string { return registryPrefix + app + "/" + agent }

// isAgentApp reports whether app was registered by agents.
func isAgentApp(app *resource.App) bool { return app.Metadata.Labels[OriginLabel] == OriginAgent }

// appFromAPI turns an app an agent announced into a validated resource
// marked as an agent's.
func appFromAPI(a *api.App) (*resource.App, error) {
	labels := maps.Clone(a.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	labels[OriginLabel] = OriginAgent
	app := resource.NewApp(a.GetName(), a.GetUri(), a.GetPublicAddr(), labels)
	for _, r := range a.GetTcpPorts() {
		if r.GetPort() > 65535 || r.GetEndPort() > 65535 {
			return nil, fmt.Errorf("app %q: port range %d-%d out of range", a.GetName(), r.GetPort(), r.GetEndPort())
		}
		app.Spec.TCPPorts = append(app.Spec.TCPPorts, resource.PortRange{Port: int(r.GetPort()), EndPort: int(r.GetEndPort())})
	}
	if err := app.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if err := app.CheckNew(); err != nil {
		return nil, err
	}
	return app, nil
}

// registry reads and writes registrations, and decides agents' claims.
type registry struct {
	store store.Store  // never nil
	state *state.State // never nil
	self  string       // this proxy's peer address
	// proxyHost is the domain of default app addresses (resource.App.Addr).
	proxyHost string
	ttl       time.Duration
	now       func() time.Time
	// agent loads an agent's record: its join token's limits, and whether
	// it has been removed (auth.ErrNoSuchResource).
	agent func(ctx context.Context, id string) (auth.Agent, error)
	// cached lists the agents' apps from the proxy's catalog cache; nil:
	// from the store.
	cached func() []*resource.App

	// mu is held while a claim is checked and written, so that two claims
	// made through this proxy (agents' registrations, 'vnet ctl create')
	// cannot both pass the checks. Claims through two proxies of one
	// cluster can still race (docs/gaps.md).
	mu sync.Mutex
}

// claimRefusal is one app of an agent that the cluster refused.
type claimRefusal struct {
	App    string `json:"app"`
	Reason string `json:"reason"` // one line that names the app
}

// register decides which of apps the agent may serve, records that it
// serves those through this proxy, writes their resources, and drops the
// agent's registrations of apps it no longer serves. Agents call it at
// every registration and heartbeat, so a claim refused while another
// agent holds the app is accepted once that agent has gone.
//
// The rules (issue 9): an app must be allowed by the agent's join token;
// the cluster's own apps are never an agent's; an app name belongs to the
// agents whose app is stored: another agent may serve it only with the
// same spec and labels (high availability), while an agent serving it
// alone may change it; an app's address is one app's (CheckAddrFree). It
// returns auth.ErrNoSuchResource if the agent has been removed.
func (r *registry) register(ctx context.Context, agentID string, apps []*resource.App) (accepted []*resource.App, refused []claimRefusal, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Under mu: a removal that deleted the record and then the agent's
	// registrations is not undone by a round that read the record before.
	agent, err := r.agent(ctx, agentID)
	if err != nil {
		return nil, nil, err
	}
	stored, err := r.state.Apps(ctx)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]int{}
	for i, a := range stored {
		byName[a.Name()] = i
	}
	refuse := func(app *resource.App, reason string) {
		refused = append(refused, claimRefusal{App: app.Name(), Reason: reason})
	}
	keep := map[string]bool{}
	for _, app := range apps {
		if reason := agent.Limits.Outside(app.Name(), app.Metadata.Labels); reason != "" {
			refuse(app, fmt.Sprintf("app %q: %s", app.Name(), reason))
			continue
		}
		i, exists := byName[app.Name()]
		changed := !exists || !sameApp(stored[i], app)
		switch {
		case exists && !isAgentApp(stored[i]):
			refuse(app, fmt.Sprintf("app %q is defined by the cluster itself (cluster.yaml or 'vnet ctl create'): an agent cannot serve it", app.Name()))
			continue
		case exists && changed:
			others, err := r.otherAgents(ctx, app.Name(), agentID)
			if err != nil {
				return nil, nil, err
			}
			if len(others) > 0 {
				refuse(app, fmt.Sprintf("app %q is already served by agent %s with another uri, public_addr, tcp_ports or labels: a second agent may serve it only with the same ones", app.Name(), strings.Join(others, ", ")))
				continue
			}
		}
		if err := resource.CheckAddrFree(app, stored, r.proxyHost); err != nil {
			refuse(app, err.Error())
			continue
		}
		if err := r.renewOne(ctx, agentID, app.Name()); err != nil {
			return nil, nil, err
		}
		// Registration first, resource second: a sweep that runs between
		// them sees a live registration and keeps the resource.
		if changed {
			if _, err := r.state.Create(ctx, app, true); err != nil {
				return nil, nil, fmt.Errorf("store app %q: %w", app.Name(), err)
			}
			if exists {
				stored[i] = app
			} else {
				byName[app.Name()] = len(stored)
				stored = append(stored, app)
			}
		}
		keep[app.Name()] = true
		accepted = append(accepted, app)
	}
	if err := r.drop(ctx, agentID, keep); err != nil {
		return nil, nil, err
	}
	return accepted, refused, nil
}

// sameApp reports whether two agents' registrations are the same app.
func sameApp(a, b *resource.App) bool {
	return a.Spec.URI == b.Spec.URI && a.Spec.PublicAddr == b.Spec.PublicAddr &&
		slices.Equal(a.Spec.TCPPorts, b.Spec.TCPPorts) && maps.Equal(a.Metadata.Labels, b.Metadata.Labels)
}

// otherAgents returns the agents other than agent with a live
// registration of app.
func (r *registry) otherAgents(ctx context.Context, app, agent string) ([]string, error) {
	regs, err := r.live(ctx, app)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, reg := range regs {
		if reg.Agent != agent {
			out = append(out, reg.Agent)
		}
	}
	return out, nil
}

func (r *registry) renewOne(ctx context.Context, agent, app string) error {
	data, _ := json.Marshal(registration{Agent: agent, Proxy: r.self, Expires: r.now().Add(r.ttl).UTC()})
	if err := r.store.Put(ctx, registrationKey(app, agent), data); err != nil {
		return fmt.Errorf("register agent %s for app %q: %w", agent, app, err)
	}
	return nil
}

// drop deletes the agent's registrations except those of apps in keep,
// then removes the agent apps nobody serves any more.
func (r *registry) drop(ctx context.Context, agent string, keep map[string]bool) error {
	items, err := r.store.List(ctx, registryPrefix)
	if err != nil {
		return err
	}
	dropped := false
	for _, it := range items {
		app, id, ok := splitRegistrationKey(it.Key)
		if ok && id == agent && !keep[app] {
			if err := r.store.Delete(ctx, it.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			dropped = true
		}
	}
	if !dropped {
		return nil // nothing new to sweep: sweepLoop takes the expired
	}
	return r.sweep(ctx)
}

// forget drops every registration and refusal of the agent (it said
// goodbye, or it was removed) and the apps only it served.
func (r *registry) forget(ctx context.Context, agent string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.Delete(ctx, refusalsPrefix+agent); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return r.drop(ctx, agent, nil)
}

func splitRegistrationKey(key string) (app, agent string, ok bool) {
	return strings.Cut(strings.TrimPrefix(key, registryPrefix), "/")
}

// live returns the unexpired registrations of app.
func (r *registry) live(ctx context.Context, app string) ([]registration, error) {
	items, err := r.store.List(ctx, registryPrefix+app+"/")
	if err != nil {
		return nil, err
	}
	now := r.now()
	var out []registration
	for _, it := range items {
		var reg registration
		if json.Unmarshal(it.Value, &reg) != nil || now.After(reg.Expires) {
			continue
		}
		out = append(out, reg)
	}
	return out, nil
}

// serving returns the apps of each agent's live registrations, by agent.
func (r *registry) serving(ctx context.Context) (map[string][]string, error) {
	items, err := r.store.List(ctx, registryPrefix)
	if err != nil {
		return nil, err
	}
	now := r.now()
	out := map[string][]string{}
	for _, it := range items {
		app, agent, _ := splitRegistrationKey(it.Key)
		var reg registration
		if json.Unmarshal(it.Value, &reg) == nil && !now.After(reg.Expires) {
			out[agent] = append(out[agent], app)
		}
	}
	return out, nil
}

// sweepLocked is sweep under mu: a sweep between a claim's reading of the
// apps and its writing of a registration would remove an app the claim
// found stored.
func (r *registry) sweepLocked(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sweep(ctx)
}

// sweep deletes expired registrations, and the agent apps that have no
// live registration left. Any proxy may sweep: the outcome is the same.
func (r *registry) sweep(ctx context.Context) error {
	items, err := r.store.List(ctx, registryPrefix)
	if err != nil {
		return err
	}
	now := r.now()
	served := map[string]bool{}
	for _, it := range items {
		app, _, _ := splitRegistrationKey(it.Key)
		var reg registration
		if json.Unmarshal(it.Value, &reg) == nil && !now.After(reg.Expires) {
			served[app] = true
			continue
		}
		if err := r.store.Delete(ctx, it.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if _, err := r.refusals(ctx); err != nil { // deletes the expired ones
		return err
	}
	// The agents' apps from the cache: listing every app from the store
	// at every sweep is what a large catalog cannot afford. An app the
	// cache has not seen yet is swept next time; a registration written
	// before the listing above holds r.mu, as the sweep does.
	apps, err := r.agentApps(ctx)
	if err != nil {
		return err
	}
	for _, app := range apps {
		if !served[app.Name()] {
			if err := r.state.Delete(ctx, resource.KindApp, app.Name()); err != nil && !errors.Is(err, state.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// agentApps is every app agents registered.
func (r *registry) agentApps(ctx context.Context) ([]*resource.App, error) {
	if r.cached != nil {
		return r.cached(), nil
	}
	apps, err := r.state.Apps(ctx)
	return slices.DeleteFunc(apps, func(a *resource.App) bool { return !isAgentApp(a) }), err
}

// An agent's refused claims are kept while it keeps making them, for
// 'vnet ctl get apps' and so that the same refusal is audited once:
//
//	/agent_refusals/<agent id> -> agentRefusals (JSON)
const refusalsPrefix = "/agent_refusals/"

type agentRefusals struct {
	Agent   string         `json:"agent"`
	Claims  []claimRefusal `json:"claims"`
	Expires time.Time      `json:"expires"`
}

// recordRefusals stores the agent's refused claims of this round (none:
// it has no refusal left) and returns those it had not made before.
func (r *registry) recordRefusals(ctx context.Context, agent string, refused []claimRefusal) (fresh []claimRefusal, err error) {
	key := refusalsPrefix + agent
	var prev agentRefusals
	if data, err := r.store.Get(ctx, key); err == nil {
		if json.Unmarshal(data, &prev) != nil || r.now().After(prev.Expires) {
			prev = agentRefusals{}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, c := range refused {
		if !slices.Contains(prev.Claims, c) {
			fresh = append(fresh, c)
		}
	}
	if len(refused) == 0 {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	data, _ := json.Marshal(agentRefusals{Agent: agent, Claims: refused, Expires: r.now().Add(r.ttl).UTC()})
	if err := r.store.Put(ctx, key, data); err != nil {
		return nil, fmt.Errorf("record refused claims of agent %s: %w", agent, err)
	}
	return fresh, nil
}

// refusals returns the refused claims of the agents still making them,
// by agent, and deletes the expired ones.
func (r *registry) refusals(ctx context.Context) ([]agentRefusals, error) {
	items, err := r.store.List(ctx, refusalsPrefix)
	if err != nil {
		return nil, err
	}
	now := r.now()
	var out []agentRefusals
	for _, it := range items {
		var ar agentRefusals
		if json.Unmarshal(it.Value, &ar) == nil && !now.After(ar.Expires) {
			out = append(out, ar)
			continue
		}
		if err := r.store.Delete(ctx, it.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}
