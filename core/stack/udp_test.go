package stack_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/vnetproject/vnet/core/stack"
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
			checkUDPAnswer(t, p, tt.addr)
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

// partialCsumIO plays a TUN with offloads that hands over each IPv4 UDP
// datagram as Linux does for one sent from the machine itself: with
// VIRTIO_NET_HDR_F_NEEDS_CSUM and only the pseudo header's sum in the
// UDP checksum field (CHECKSUM_PARTIAL), the rest left to the "hardware".
type partialCsumIO struct{ stack.PacketIO }

func (partialCsumIO) VirtioNetHdr() bool { return true }

func (p partialCsumIO) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	n, err := readWithZeroHdr(p.PacketIO, bufs, sizes)
	for i := range n {
		hdr, pkt := bufs[i][:stack.VirtioNetHdrLen], bufs[i][stack.VirtioNetHdrLen:sizes[i]]
		ip := header.IPv4(pkt)
		if header.IPVersion(pkt) != header.IPv4Version || ip.TransportProtocol() != header.UDPProtocolNumber {
			continue
		}
		u := header.UDP(ip.Payload())
		u.SetChecksum(header.PseudoHeaderChecksum(header.UDPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), u.Length()))
		hdr[0] = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
		binary.LittleEndian.PutUint16(hdr[6:], uint16(ip.HeaderLength()))
		binary.LittleEndian.PutUint16(hdr[8:], 6) // the UDP checksum field
	}
	return n, err
}

// TestHandleUDPPartialChecksum: with the TUN's checksum offload, a DNS
// query from the machine itself comes with a partial checksum
// (NEEDS_CSUM); the handler must still get it, as the kernel vouches for
// it (the link's RX checksum offload).
func TestHandleUDPPartialChecksum(t *testing.T) {
	checkGoroutines(t)
	p := newPairIO(t, stack.Config{}, func(io stack.PacketIO) stack.PacketIO { return partialCsumIO{io} })
	addr := netip.AddrPortFrom(vnetDNS4, 53)
	got := make(chan string, 1)
	if err := p.vnet.HandleUDP(addr, func(_, _ netip.AddrPort, payload []byte) {
		got <- string(payload)
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.hostIO.WritePackets([][]byte{udp4(host4, vnetDNS4, 5353, 53, []byte("query"))}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "query" {
			t.Errorf("handler got %q, want %q", s, "query")
		}
	case <-time.After(waitLong):
		t.Fatal("a datagram with a partial checksum (NEEDS_CSUM) never reached the handler")
	}
}
