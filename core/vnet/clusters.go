package vnet

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/tunnel"
)

// Clusters holds one gRPC connection per logged-in cluster and serves as
// the engine's Dialer.
type Clusters struct {
	conns   []*grpc.ClientConn
	sources []catalog.Source
	tunnels map[string]*tunnel.Client // by cluster name; read-only after Connect
}

// Connect opens a connection to the cluster of every profile. Connections
// are lazy: a cluster that is down now is retried on use.
func Connect(profiles []*profile.Profile) (*Clusters, error) {
	c := &Clusters{tunnels: map[string]*tunnel.Client{}}
	for _, p := range profiles {
		conn, err := p.Dial()
		if err != nil {
			c.Close()
			return nil, err
		}
		c.conns = append(c.conns, conn)
		c.sources = append(c.sources, catalog.NewProxySource(conn))
		c.tunnels[p.ClusterName] = tunnel.NewClient(conn, p.ClusterName)
	}
	if len(c.conns) == 0 {
		return nil, profile.ErrNoProfiles
	}
	return c, nil
}

// Sources are the catalog sources, one per cluster, in profile order.
func (c *Clusters) Sources() []catalog.Source { return c.sources }

// DialApp reaches an app through the tunnel of the logged-in cluster that
// reaches its cluster.
func (c *Clusters) DialApp(ctx context.Context, t AppTarget) (net.Conn, error) {
	via := t.Via
	if via == "" {
		via = t.Cluster
	}
	tc, ok := c.tunnels[via]
	if !ok {
		return nil, fmt.Errorf("not logged in to cluster %q", via)
	}
	leaf := ""
	if t.Cluster != via {
		leaf = t.Cluster
	}
	return tc.DialIn(ctx, leaf, t.App, t.Port, t.ClientAddr)
}

// Close closes every connection.
func (c *Clusters) Close() error {
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}
