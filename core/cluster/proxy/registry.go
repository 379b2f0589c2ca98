package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/api"
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
	return app, nil
}

// registry reads and writes registrations.
type registry struct {
	store store.Store  // never nil
	state *state.State // never nil
	self  string       // this proxy's peer address
	ttl   time.Duration
	now   func() time.Time
}

// register records that agent serves apps through this proxy, writes the
// apps' resources, and drops the agent's registrations of apps not in
// apps any more. It returns the apps it registered and one line for each
// it refused.
func (r *registry) register(ctx context.Context, agent string, apps []*resource.App) (accepted []*resource.App, rejected []string, err error) {
	keep := map[string]bool{}
	for _, app := range apps {
		cur, err := r.state.App(ctx, app.Name())
		switch {
		case errors.Is(err, state.ErrNotFound):
		case err != nil:
			return nil, nil, err
		case !isAgentApp(cur):
			rejected = append(rejected, fmt.Sprintf("app %q is defined by the cluster itself (cluster.yaml or 'vnet ctl create'): an agent cannot serve it", app.Name()))
			continue
		}
		if err := r.renewOne(ctx, agent, app.Name()); err != nil {
			return nil, nil, err
		}
		// Registration first, resource second: a sweep that runs between
		// them sees a live registration and keeps the resource.
		if _, err := r.state.Create(ctx, app, true); err != nil {
			return nil, nil, fmt.Errorf("store app %q: %w", app.Name(), err)
		}
		keep[app.Name()] = true
		accepted = append(accepted, app)
	}
	if err := r.drop(ctx, agent, keep); err != nil {
		return nil, nil, err
	}
	return accepted, rejected, nil
}

// renew extends the agent's registrations of apps and re-creates an app
// resource a racing sweep removed.
func (r *registry) renew(ctx context.Context, agent string, apps []*resource.App) error {
	for _, app := range apps {
		if err := r.renewOne(ctx, agent, app.Name()); err != nil {
			return err
		}
		if _, err := r.state.App(ctx, app.Name()); errors.Is(err, state.ErrNotFound) {
			if _, err := r.state.Create(ctx, app, false); err != nil {
				// Someone created it in the meantime: that is fine.
				if _, gerr := r.state.App(ctx, app.Name()); gerr != nil {
					return fmt.Errorf("store app %q: %w", app.Name(), err)
				}
			}
		}
	}
	return nil
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
	for _, it := range items {
		app, id, ok := splitRegistrationKey(it.Key)
		if ok && id == agent && !keep[app] {
			if err := r.store.Delete(ctx, it.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return r.sweep(ctx)
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
	apps, err := r.state.Apps(ctx)
	if err != nil {
		return err
	}
	for _, app := range apps {
		if isAgentApp(app) && !served[app.Name()] {
			if err := r.state.Delete(ctx, resource.KindApp, app.Name()); err != nil && !errors.Is(err, state.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}
