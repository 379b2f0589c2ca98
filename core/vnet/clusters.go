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
// the engine's Dialer. Clusters are known by their profile's ID (its proxy
// address), never by the name they report: two clusters that report the
// same name never share a tunnel.
type Clusters struct {
	conns   []*grpc.ClientConn
	logins  []catalog.Login
	tunnels map[string]*tunnel.Client // by profile ID; read-only after Connect
}

// Connect opens a connection to the cluster of every profile, given in
// login order (profile.LoadAll). Connections are lazy: a cluster that is
// down now is retried on use.
func Connect(profiles []*profile.Profile) (*Clusters, error) {
	c := &Clusters{tunnels: map[string]*tunnel.Client{}}
	for _, p := range profiles {
		if _, dup := c.tunnels[p.ID()]; dup {
			continue // one profile per proxy address (profile.Dir)
		}
		conn, err := p.Dial()
		if err != nil {
			c.Close()
			return nil, err
		}
		c.conns = append(c.conns, conn)
		c.logins = append(c.logins, catalog.Login{ID: p.ID(), Source: catalog.NewProxySource(conn)})
		c.tunnels[p.ID()] = tunnel.NewClient(conn, p.ClusterName)
	}
	if len(c.conns) == 0 {
		return nil, profile.ErrNoProfiles
	}
	return c, nil
}

// Logins are the catalog's logins, one per profile, in login order.
func (c *Clusters) Logins() []catalog.Login { return c.logins }

// DialApp reaches an app through the tunnel of the profile that reaches
// its cluster: t.Via, an ID, picks the tunnel; the cluster's name only
// tells that profile's proxy which leaf to go to.
func (c *Clusters) DialApp(ctx context.Context, t AppTarget) (net.Conn, error) {
	tc, ok := c.tunnels[t.Via]
	if !ok {
		return nil, fmt.Errorf("not logged in at %q", t.Via)
	}
	leaf := ""
	if t.ClusterID != "" && t.ClusterID != t.Via {
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
