package stack_test

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func TestHandleUDP(t *testing.T) {
	tests := []struct {
		name string
		addr netip.AddrPort
	}{
		{name: "IPv4", addr: netip.AddrPortFrom(vnetDNS4, 53)},
		{name: "IPv6", addr: netip.AddrPortFrom(vnetDNS6, 53)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			p := newPair(t, nil)
			var calls atomic.Int32
			err := p.vnet.HandleUDP(tt.addr, func(src, dst netip.AddrPort, payload []byte) {
				calls.Add(1)
				if dst != tt.addr {
					t.Errorf("dst = %s, want %s", dst, tt.addr)
				}
				if err := p.vnet.WriteUDP(dst, src, append([]byte("answer to "), payload...)); err != nil {
					t.Errorf("WriteUDP: %v", err)
				}
			})
			if err != nil {
				t.Fatalf("HandleUDP: %v", err)
			}
			conn, err := p.host.DialUDP(netip.Addr{}, tt.addr)
			if err != nil {
				t.Fatalf("DialUDP: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(waitLong))
			if _, err := conn.Write([]byte("query")); err != nil {
				t.Fatalf("write: %v", err)
			}
			buf := make([]byte, 512)
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if got, want := string(buf[:n]), "answer to query"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if calls.Load() != 1 {
				t.Errorf("handler called %d times, want 1", calls.Load())
			}
		})
	}
}

// TestHandleUDPDropsBadChecksum checks that a datagram a socket would
// drop never reaches the handler.
func TestHandleUDPDropsBadChecksum(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, nil)
	addr := netip.AddrPortFrom(vnetDNS4, 53)
	var calls atomic.Int32
	if err := p.vnet.HandleUDP(addr, func(_, _ netip.AddrPort, payload []byte) {
		calls.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	good, bad := udp4(host4, vnetDNS4, 5353, 53, []byte("good")), udp4(host4, vnetDNS4, 5353, 53, []byte("bad!"))
	bad[len(bad)-1] ^= 0xff // the payload no longer matches its checksum
	before := p.vnet.Stats()
	if err := p.hostIO.WritePackets([][]byte{bad, good}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	for calls.Load() == 0 || p.vnet.Stats().PacketsIn < before.PacketsIn+2 {
		if time.Now().After(deadline) {
			t.Fatal("the good datagram never reached the handler")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("handler called %d times, want only for the good datagram", got)
	}
}

func TestHandleUDPRefuses(t *testing.T) {
	p := newPair(t, nil)
	h := func(_, _ netip.AddrPort, _ []byte) {}
	if err := p.vnet.HandleUDP(netip.AddrPortFrom(host4, 53), h); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("HandleUDP on an address not the stack's = %v, want EADDRNOTAVAIL", err)
	}
	if err := p.vnet.HandleUDP(netip.AddrPortFrom(vnetDNS4, 53), h); err != nil {
		t.Fatal(err)
	}
	if err := p.vnet.HandleUDP(netip.AddrPortFrom(vnetDNS4, 53), h); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second HandleUDP on one port = %v, want EADDRINUSE", err)
	}
}

// udp4 is an IPv4 UDP datagram with correct checksums.
func udp4(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	srcA, dstA := tcpip.AddrFrom4(src.As4()), tcpip.AddrFrom4(dst.As4())
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.UDPProtocolNumber),
		SrcAddr:     srcA,
		DstAddr:     dstA,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(b[header.IPv4MinimumSize:])
	copy(u[header.UDPMinimumSize:], payload)
	u.Encode(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(u))})
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, srcA, dstA, uint16(len(u)))
	u.SetChecksum(^u.CalculateChecksum(checksum.Checksum(payload, xsum)))
	return b
}
