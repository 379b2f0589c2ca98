package appcache

import (
	"reflect"

	"google.golang.org/protobuf/proto"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// AppToAPI is an app as the catalog API shows it.
func AppToAPI(a *resource.App) *api.App {
	out := &api.App{Name: a.Metadata.Name, Uri: a.Spec.URI, PublicAddr: a.Spec.PublicAddr, Labels: a.Metadata.Labels}
	for _, r := range a.Spec.TCPPorts {
		out.TcpPorts = append(out.TcpPorts, &api.PortRange{Port: uint32(r.Port), EndPort: uint32(r.EndPort)})
	}
	return out
}

// VNetConfigToAPI is a vnet_config as the catalog API shows it.
func VNetConfigToAPI(cfg *resource.VNetConfig) *api.VNetConfig {
	out := &api.VNetConfig{Ipv4CidrRange: cfg.Spec.IPv4CIDRRange}
	for _, z := range cfg.Spec.CustomDNSZones {
		out.CustomDnsZones = append(out.CustomDnsZones, z.Suffix)
	}
	return out
}

func sameApp(a, b *api.App) bool { return proto.Equal(a, b) }

func sameConfig(a, b *api.VNetConfig) bool { return proto.Equal(a, b) }

func sameRole(a, b *resource.Role) bool { return reflect.DeepEqual(a, b) }
