package vnet_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/testkit"
)

// TestSystemLeafCluster: a user logged in to a root reaches an app of a
// leaf cluster by name through one VNet, with the leaf's own range and
// zone, over the leaf's real reverse tunnel to the root; an app of the leaf
// without public_addr at <name>.<leaf proxy host>.
func TestSystemLeafCluster(t *testing.T) {
	testkit.CheckGoroutines(t)
	root := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "root-app", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "app.root-zone.test"})
	leaf := clustertest.Start(t, "leaf.test", "proxy.leaf.test",
		clustertest.App{Name: "leaf-app", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "app.leaf-zone.test"},
		clustertest.App{Name: "leaf-default", URI: "tcp://" + clustertest.EchoServer(t)})
	clustertest.CreateResource(t, root.Admin(t), vnetConfig("100.64.0.0/16", "root-zone.test"))
	leafRange := netip.MustParsePrefix("100.70.0.0/16")
	clustertest.CreateResource(t, leaf.Admin(t), vnetConfig(leafRange.String(), "leaf-zone.test"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The root grants the leaf its zone and range (else it drops them).
	token, _, err := root.Daemon.Auth().AddLeafJoinToken(ctx, time.Hour, resource.LeafGrants{Zones: []string{"leaf-zone.test"}, IPv4CIDRRange: leafRange.String()})
	if err != nil {
		t.Fatal(err)
	}
	clustertest.CreateResource(t, leaf.Admin(t), fmt.Sprintf(
		"kind: trusted_cluster\nversion: v1\nmetadata: {name: root.test}\nspec:\n  token: %s\n  web_proxy_addr: %s\n  ca_pin: %s\n  role_map: [{remote: dev, local: [access]}]\n",
		token, root.Addr, root.Daemon.Auth().CA().Pin()))

	w := startVNet(t, root.AddUser(t, "alice", "dev"))
	s := w.waitSettings(t, "the leaf's range and domains", func(s netcfg.Settings) bool {
		return slices.Contains(s.Routes, leafRange) && slices.Contains(s.DNSZones, "leaf-zone.test") && slices.Contains(s.DNSZones, "proxy.leaf.test")
	})
	if s.TunAddr4 != hostAddr {
		t.Errorf("device address %s, want %s from the root's range", s.TunAddr4, hostAddr)
	}
	ipRoot, ipLeaf := w.resolve(t, "app.root-zone.test"), w.resolve(t, "App.Leaf-Zone.Test.")
	if !netip.MustParsePrefix("100.64.0.0/10").Contains(ipRoot) || !leafRange.Contains(ipLeaf) {
		t.Fatalf("root app = %s, leaf app = %s: want each in its cluster's range", ipRoot, ipLeaf)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(ipLeaf, 80))
	w.echo(t, hostAddr, netip.AddrPortFrom(ipRoot, 80))
	ipDefault := w.resolve(t, "leaf-default.proxy.leaf.test")
	if !leafRange.Contains(ipDefault) || ipDefault == ipLeaf {
		t.Fatalf("leaf-default.proxy.leaf.test = %s, want its own address in the leaf's range", ipDefault)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(ipDefault, 80))
}
