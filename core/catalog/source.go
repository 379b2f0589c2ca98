package catalog

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
)

// Source follows what one logged-in cluster offers: its own apps and
// those of the leaf clusters it trusts.
type Source interface {
	// Watch calls update with the offer at once and after every change,
	// from the calling goroutine, until ctx is done or the stream breaks;
	// it returns why it stopped. The logged-in cluster comes first, then
	// its leaves; who they are (ID, Via) is the catalog's to say
	// (Identify), not the source's.
	Watch(ctx context.Context, update func([]Cluster)) error
}

// ProxySource follows a cluster's offer through its proxy, as deltas.
type ProxySource struct {
	client api.ClusterClient

	// mu is held by Watch: one stream at a time applies to view.
	mu sync.Mutex
	// view is the offer the streams built, kept across them so that a
	// new stream resumes from its revision; guarded by mu.
	view deltaView
}

// NewProxySource returns a Source over conn, a connection to the proxy.
func NewProxySource(conn grpc.ClientConnInterface) *ProxySource {
	return &ProxySource{client: api.NewClusterClient(conn)}
}

// Fetch asks the proxy once for its vnet_config and its apps (not its
// leaves': see Watch).
func (p *ProxySource) Fetch(ctx context.Context) (Cluster, error) {
	cfg, err := p.client.GetVNetConfig(ctx, &api.GetVNetConfigRequest{})
	if err != nil {
		return Cluster{}, fmt.Errorf("get vnet_config: %w", err)
	}
	apps, err := p.client.ListApps(ctx, &api.ListAppsRequest{})
	if err != nil {
		return Cluster{}, fmt.Errorf("list apps: %w", err)
	}
	return clusterFrom(cfg, apps)
}

// Watch follows the proxy's catalog stream, resuming from the revision
// the last stream reached. A proxy that sends the whole catalog every
// time (an older one) is followed too.
func (p *ProxySource) Watch(ctx context.Context, update func([]Cluster)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, err := p.client.WatchCatalog(ctx, &api.WatchCatalogRequest{Deltas: true, ResumeRevision: p.view.resumeFrom()})
	if err != nil {
		return fmt.Errorf("watch catalog: %w", err)
	}
	for {
		u, err := s.Recv()
		if err != nil {
			return fmt.Errorf("watch catalog: %w", err)
		}
		changed := true
		if p.view.isWhole(u) {
			p.view.applyWhole(u)
		} else if changed, err = p.view.apply(u); err != nil {
			p.view = deltaView{} // start over with a full set
			return fmt.Errorf("watch catalog: %w", err)
		}
		if !changed {
			continue
		}
		out, err := p.view.offer()
		if err != nil {
			return err
		}
		update(out)
	}
}

func clusterFrom(cfg *api.VNetConfig, apps *api.ListAppsResponse) (Cluster, error) {
	c, err := clusterHead(cfg, apps.GetClusterName(), apps.GetProxyPublicAddr())
	if err != nil {
		return Cluster{}, err
	}
	labels := labelSet{}
	for _, a := range apps.GetApps() {
		c.Apps = append(c.Apps, labels.appFrom(a))
	}
	return c, nil
}

// clusterHead is a cluster without its apps.
func clusterHead(cfg *api.VNetConfig, name, proxyAddr string) (Cluster, error) {
	rng, err := netip.ParsePrefix(cfg.GetIpv4CidrRange())
	if err != nil || !rng.Addr().Is4() {
		return Cluster{}, fmt.Errorf("cluster %s sent a bad ipv4_cidr_range %q", name, cfg.GetIpv4CidrRange())
	}
	c := Cluster{Name: name, ProxyHost: proxyHost(proxyAddr), IPv4Range: rng.Masked()}
	for _, z := range cfg.GetCustomDnsZones() {
		c.Zones = append(c.Zones, Normalize(z))
	}
	return c, nil
}

// proxyHost is the host of a proxy's public address, normalised.
func proxyHost(proxyAddr string) string {
	host, _, err := net.SplitHostPort(proxyAddr)
	if err != nil {
		host = proxyAddr
	}
	return Normalize(host)
}
