package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
)

// Source fetches what one cluster offers.
type Source interface {
	Fetch(ctx context.Context) (Cluster, error)
}

// ProxySource fetches a cluster's offer from its proxy.
type ProxySource struct {
	client api.ClusterClient
}

// NewProxySource returns a Source over conn, a connection to the proxy.
func NewProxySource(conn grpc.ClientConnInterface) *ProxySource {
	return &ProxySource{client: api.NewClusterClient(conn)}
}

// Fetch asks the proxy for its vnet_config and its apps.
func (p *ProxySource) Fetch(ctx context.Context) (Cluster, error) {
	cfg, err := p.client.GetVNetConfig(ctx, &api.GetVNetConfigRequest{})
	if err != nil {
		return Cluster{}, fmt.Errorf("get vnet_config: %w", err)
	}
	apps, err := p.client.ListApps(ctx, &api.ListAppsRequest{})
	if err != nil {
		return Cluster{}, fmt.Errorf("list apps: %w", err)
	}
	rng, err := netip.ParsePrefix(cfg.GetIpv4CidrRange())
	if err != nil {
		return Cluster{}, fmt.Errorf("cluster %s sent a bad ipv4_cidr_range %q: %w", apps.GetClusterName(), cfg.GetIpv4CidrRange(), err)
	}
	host, _, err := net.SplitHostPort(apps.GetProxyPublicAddr())
	if err != nil {
		host = apps.GetProxyPublicAddr()
	}
	c := Cluster{Name: apps.GetClusterName(), ProxyHost: Normalize(host), IPv4Range: rng}
	for _, z := range cfg.GetCustomDnsZones() {
		c.Zones = append(c.Zones, Normalize(z))
	}
	for _, a := range apps.GetApps() {
		c.Apps = append(c.Apps, App{Name: a.GetName(), PublicAddr: Normalize(a.GetPublicAddr()), Labels: a.GetLabels()})
	}
	return c, nil
}

// Catalog combines the sources of every logged-in cluster.
type Catalog struct {
	sources []Source // never empty
	log     *slog.Logger
	current atomic.Pointer[Snapshot]
	mu      sync.Mutex // serialises Refresh
}

// New returns a catalog over sources; call Refresh before Current.
func New(sources []Source, log *slog.Logger) (*Catalog, error) {
	if len(sources) == 0 {
		return nil, errors.New("catalog: no cluster to serve")
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Catalog{sources: sources, log: log}
	c.current.Store(&Snapshot{})
	return c, nil
}

// Current is the latest snapshot; never nil.
func (c *Catalog) Current() *Snapshot { return c.current.Load() }

// Refresh fetches every source and publishes a new snapshot. A cluster that
// cannot be reached is left out (and logged) so that the others keep
// working; it is an error only when no cluster answers.
func (c *Catalog) Refresh(ctx context.Context) (*Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := &Snapshot{}
	var errs []error
	for _, src := range c.sources {
		cl, err := src.Fetch(ctx)
		if err != nil {
			c.log.Warn("cluster unavailable", "err", err)
			errs = append(errs, err)
			continue
		}
		snap.Clusters = append(snap.Clusters, cl)
	}
	if len(snap.Clusters) == 0 {
		return nil, fmt.Errorf("no cluster answered: %w", errors.Join(errs...))
	}
	c.current.Store(snap)
	return snap, nil
}
