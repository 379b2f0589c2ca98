package dns_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/stack/stacktest"
)

// BenchmarkServeNetstack answers VNet's own name through a netstack, as
// the engine runs it, in two ways: "socket" serves a gVisor UDP socket
// (Stack.ListenUDP, ServeUDP), "packetpath" answers on the stack's packet
// path (Stack.HandleUDP, Datagrams). The clients sit in a second stack
// joined by a pipe; their cost is the same in both, so the difference in
// cpu-µs/q is the server's.
//
//	go test -run '^$' -bench ServeNetstack -benchtime 50000x ./core/dns
func BenchmarkServeNetstack(b *testing.B) {
	vnetDNS := netip.MustParseAddr("100.64.0.2")
	for _, mode := range []string{"socket", "packetpath"} {
		b.Run(mode, func(b *testing.B) {
			vnetIO, hostIO := stacktest.Pipe(512)
			vnet := benchStack(b, vnetIO, vnetDNS)
			host := benchStack(b, hostIO, netip.MustParseAddr("100.64.0.1"))
			srv, err := dns.NewServer(dns.Config{Resolver: benchResolver{}, Upstream: dns.UpstreamFunc(
				func(context.Context, *mdns.Msg) (*mdns.Msg, error) { return nil, errors.New("no upstream") }),
				MaxInFlight: 4 * benchInFlight})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			addr := netip.AddrPortFrom(vnetDNS, 53)
			switch mode {
			case "socket":
				pc, err := vnet.ListenUDP(addr)
				if err != nil {
					b.Fatal(err)
				}
				go srv.ServeUDP(context.Background(), pc)
			case "packetpath":
				d, err := srv.ServeDatagrams(context.Background(), vnet.WriteUDP)
				if err != nil {
					b.Fatal(err)
				}
				if err := vnet.HandleUDP(addr, d.Handle); err != nil {
					b.Fatal(err)
				}
			}
			fireQueriesWith(b, func() (net.Conn, error) { return host.DialUDP(netip.Addr{}, addr) }, "tcp-app.company.test.")
		})
	}
}

// benchStack runs a stack owning addr over io until the benchmark ends.
func benchStack(b *testing.B, io stack.PacketIO, addr netip.Addr) *stack.Stack {
	b.Helper()
	st, err := stack.New(stack.Config{IO: io, Addresses: []netip.Addr{addr}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Run(context.Background())
	}()
	b.Cleanup(func() {
		st.Close()
		<-done
	})
	return st
}
