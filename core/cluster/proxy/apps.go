package proxy

import (
	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// appToAPI is an app as the catalog API shows it.
func appToAPI(a *resource.App) *api.App {
	out := &api.App{Name: a.Metadata.Name, Uri: a.Spec.URI, PublicAddr: a.Spec.PublicAddr, Labels: a.Metadata.Labels}
	for _, r := range a.Spec.TCPPorts {
		out.TcpPorts = append(out.TcpPorts, &api.PortRange{Port: uint32(r.Port), EndPort: uint32(r.EndPort)})
	}
	return out
}
