package stack_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/stack/stacktest"
	"github.com/vnetproject/vnet/core/testkit"
)

// udp6 is an IPv6 UDP datagram with a correct checksum.
func udp6(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, header.IPv6MinimumSize+header.UDPMinimumSize+len(payload))
	srcA, dstA := tcpip.AddrFrom16(src.As16()), tcpip.AddrFrom16(dst.As16())
	header.IPv6(b).Encode(&header.IPv6Fields{
		PayloadLength:     uint16(len(b) - header.IPv6MinimumSize),
		TransportProtocol: header.UDPProtocolNumber,
		HopLimit:          64,
		SrcAddr:           srcA,
		DstAddr:           dstA,
	})
	u := header.UDP(b[header.IPv6MinimumSize:])
	copy(u[header.UDPMinimumSize:], payload)
	u.Encode(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(u))})
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, srcA, dstA, uint16(len(u)))
	u.SetChecksum(^u.CalculateChecksum(checksum.Checksum(payload, xsum)))
	return b
}

// fastPathPackets are raw packets for the UDP fast path: plain datagrams
// it takes, and variants it must leave to gVisor (which delivers some and
// drops the rest).
func fastPathPackets() []struct {
	name string
	pkt  []byte
	fast bool
} {
	edit := func(b []byte, f func(b []byte)) []byte {
		b = slices.Clone(b)
		f(b)
		return b
	}
	fixIPv4 := func(b []byte) {
		ip := header.IPv4(b)
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	v4 := udp4(host4, vnetDNS4, 5353, 53, []byte("query4"))
	v6 := udp6(host6, vnetDNS6, 5353, 53, []byte("query6"))
	return []struct {
		name string
		pkt  []byte
		fast bool
	}{
		{"IPv4", v4, true},
		{"IPv6", v6, true},
		{"IPv4, no UDP checksum", edit(v4, func(b []byte) { header.UDP(b[20:]).SetChecksum(0) }), true},
		{"IPv4, bytes after the packet", append(slices.Clone(v4), 1, 2, 3), true},
		{"IPv4, UDP length shorter than the packet", edit(udp4(host4, vnetDNS4, 5353, 53, []byte("query4xx")), func(b []byte) {
			u := header.UDP(b[20:])
			u.SetLength(u.Length() - 2)
			u.SetChecksum(0)
		}), true},

		{"IPv4, bad UDP checksum", edit(v4, func(b []byte) { b[len(b)-1] ^= 0xff }), false},
		{"IPv4, bad header checksum", edit(v4, func(b []byte) { b[10] ^= 0xff }), false},
		{"IPv6, no UDP checksum", edit(v6, func(b []byte) { header.UDP(b[40:]).SetChecksum(0) }), false},
		{"IPv6, bad UDP checksum", edit(v6, func(b []byte) { b[len(b)-1] ^= 0xff }), false},
		{"IPv4, first fragment", edit(v4, func(b []byte) { b[6] |= 0x20; fixIPv4(b) }), false},
		{"IPv4, later fragment", edit(v4, func(b []byte) { b[7] = 1; fixIPv4(b) }), false},
		{"IPv4, UDP length past the packet", edit(v4, func(b []byte) { header.UDP(b[20:]).SetLength(200) }), false},
		{"IPv4, UDP length below 8", edit(v4, func(b []byte) { header.UDP(b[20:]).SetLength(4) }), false},
		{"IPv4, total length past the buffer", edit(v4, func(b []byte) { header.IPv4(b).SetTotalLength(200); fixIPv4(b) }), false},
		{"IPv4, total length below the headers", edit(v4, func(b []byte) { header.IPv4(b).SetTotalLength(24); fixIPv4(b) }), false},
		{"IPv4, options", func() []byte {
			b := make([]byte, 0, len(v4)+4)
			b = append(b, v4[:20]...)
			b = append(b, 1, 1, 1, 0) // NOP NOP NOP EOL
			b = append(b, v4[20:]...)
			b[0] = 0x46
			header.IPv4(b).SetTotalLength(uint16(len(b)))
			fixIPv4(b)
			return b
		}(), false},
		{"IPv4, TCP", edit(v4, func(b []byte) { b[9] = 6; fixIPv4(b) }), false},
		{"IPv4, multicast sender", udp4(netip.MustParseAddr("224.0.0.1"), vnetDNS4, 5353, 53, []byte("q")), false},
		{"IPv4, broadcast sender", udp4(netip.MustParseAddr("255.255.255.255"), vnetDNS4, 5353, 53, []byte("q")), false},
		{"IPv4, unspecified sender", udp4(netip.MustParseAddr("0.0.0.0"), vnetDNS4, 5353, 53, []byte("q")), false},
		{"IPv4, loopback sender", udp4(netip.MustParseAddr("127.0.0.1"), vnetDNS4, 5353, 53, []byte("q")), false},
		{"IPv4, another port", udp4(host4, vnetDNS4, 5353, 54, []byte("q")), false},
		{"IPv4, another address", udp4(host4, netip.MustParseAddr("100.64.0.9"), 5353, 53, []byte("q")), false},
		{"IPv6, hop-by-hop header first", edit(v6, func(b []byte) { b[6] = 0 }), false},
		{"IPv6, link-local sender", udp6(netip.MustParseAddr("fe80::1"), vnetDNS6, 5353, 53, []byte("q")), false},
		{"IPv6, payload length past the buffer", edit(v6, func(b []byte) { header.IPv6(b).SetPayloadLength(300) }), false},
		{"IPv4 header cut short", v4[:19], false},
		{"IPv6 header cut short", v6[:39], false},
		{"version 5", edit(v4, func(b []byte) { b[0] = 0x55 }), false},
		{"empty", nil, false},
	}
}

func TestParseUDP(t *testing.T) {
	for _, tc := range fastPathPackets() {
		// To another address or port: read, then left to gVisor as no
		// handler's.
		plain := strings.HasPrefix(tc.name, "IPv4, another")
		src, dst, payload, ok := stack.ParseUDP(tc.pkt, true)
		if ok != (tc.fast || plain) {
			t.Errorf("%s: taken = %v, want %v", tc.name, ok, tc.fast || plain)
			continue
		}
		if tc.fast && (dst.Port() != 53 || src.Port() != 5353 || len(payload) == 0 || payload[0] != 'q') {
			t.Errorf("%s: %s -> %s %q", tc.name, src, dst, payload)
		}
	}
	// Without verifying (checksum offload), a bad checksum is the
	// kernel's business, as for gVisor.
	bad := udp4(host4, vnetDNS4, 5353, 53, []byte("query"))
	bad[len(bad)-1] ^= 0xff
	if _, _, _, ok := stack.ParseUDP(bad, false); !ok {
		t.Error("unverified: a bad checksum was refused")
	}
}

// handled runs a stack with a UDPHandler on both DNS addresses, with or
// without the fast path, writes pkts to it one by one and returns what
// the handler got, in order.
func handled(t *testing.T, fast bool, pkts [][]byte) []string {
	t.Helper()
	vnetIO, peer := stacktest.Pipe(512)
	s, err := stack.New(stack.Config{IO: vnetIO, Addresses: []netip.Addr{vnetDNS4, vnetDNS6}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !fast {
		stack.DisableUDPFastPath(s)
	}
	var (
		mu  sync.Mutex
		got []string
	)
	for _, a := range []netip.Addr{vnetDNS4, vnetDNS6} {
		if err := s.HandleUDP(netip.AddrPortFrom(a, 53), func(src, dst netip.AddrPort, payload []byte) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%s -> %s %q", src, dst, payload))
		}); err != nil {
			t.Fatal(err)
		}
	}
	runStack(t, "vnet", s)
	for _, p := range pkts {
		if err := peer.WritePackets([][]byte{p}); err != nil {
			t.Fatal(err)
		}
	}
	// The one reader handles packets in order and counts each once the
	// handler (if any) has returned.
	deadline := time.Now().Add(waitLong)
	for st := s.Stats(); st.PacketsIn+st.DroppedIn < uint64(len(pkts)); st = s.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d packets read", st.PacketsIn+st.DroppedIn, len(pkts))
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got)
}

// TestUDPFastPathSameAsGVisor: the handler gets the same datagrams, in the
// same order, with the fast path as through gVisor: the fast path takes no
// packet gVisor would drop and drops none it would deliver.
func TestUDPFastPathSameAsGVisor(t *testing.T) {
	checkGoroutines(t)
	var pkts [][]byte
	for _, tc := range fastPathPackets() {
		pkts = append(pkts, tc.pkt)
	}
	slow, fast := handled(t, false, pkts), handled(t, true, pkts)
	if !slices.Equal(slow, fast) {
		t.Errorf("handler calls differ:\nthrough gVisor %q\nfast path      %q", slow, fast)
	}
	if len(fast) < 5 {
		t.Errorf("only %d datagrams handled: %q", len(fast), fast)
	}
}

// FuzzParseUDP: whatever the bytes, the fast path's reading does not
// panic and takes only a datagram whose parts lie inside the packet.
func FuzzParseUDP(f *testing.F) {
	for _, tc := range fastPathPackets() {
		f.Add(tc.pkt)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, payload, ok := stack.ParseUDP(b, true)
		if ok && len(payload)+header.UDPMinimumSize+header.IPv4MinimumSize > len(b) {
			t.Fatalf("payload of %d bytes from a %d-byte packet", len(payload), len(b))
		}
	})
}

// offloadIO plays a TUN with offloads that takes concurrent writes: each
// packet read gets a zero virtio_net_hdr in front (a complete checksum).
type offloadIO struct{ stack.PacketIO }

func (offloadIO) VirtioNetHdr() bool     { return true }
func (offloadIO) ConcurrentWrites() bool { return true }

func (o offloadIO) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	return readWithZeroHdr(o.PacketIO, bufs, sizes)
}

// TestWriteUDPDirectWithOffloads: on a PacketIO that takes concurrent
// writes, the answer is written by the handler's goroutine, after a zero
// virtio_net_hdr (no GSO, checksum complete) when the link has offloads,
// with valid IP and UDP checksums.
func TestWriteUDPDirectWithOffloads(t *testing.T) {
	checkGoroutines(t)
	vnetIO, peer := stacktest.Pipe(16)
	s, err := stack.New(stack.Config{IO: offloadIO{vnetIO}, Addresses: []netip.Addr{vnetDNS4, vnetDNS6}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{vnetDNS4, vnetDNS6} {
		if err := s.HandleUDP(netip.AddrPortFrom(a, 53), func(src, dst netip.AddrPort, payload []byte) {
			if err := s.WriteUDP(dst, src, append([]byte("answer to "), payload...)); err != nil {
				t.Errorf("WriteUDP: %v", err)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	runStack(t, "vnet", s)
	for _, q := range []struct {
		pkt      []byte
		from, to netip.AddrPort
	}{
		{udp4(host4, vnetDNS4, 5353, 53, []byte("q4")), netip.AddrPortFrom(vnetDNS4, 53), netip.AddrPortFrom(host4, 5353)},
		{udp6(host6, vnetDNS6, 5353, 53, []byte("q6")), netip.AddrPortFrom(vnetDNS6, 53), netip.AddrPortFrom(host6, 5353)},
	} {
		if err := peer.WritePackets([][]byte{q.pkt}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		sizes := make([]int, 1)
		if _, err := peer.ReadPackets([][]byte{buf}, sizes); err != nil {
			t.Fatal(err)
		}
		b := buf[:sizes[0]]
		if len(b) < stack.VirtioNetHdrLen || !slices.Equal(b[:stack.VirtioNetHdrLen], make([]byte, stack.VirtioNetHdrLen)) {
			t.Fatalf("answer does not start with a zero virtio_net_hdr: %x", b)
		}
		src, dst, payload, ok := stack.ParseUDP(b[stack.VirtioNetHdrLen:], true)
		if !ok || src != q.from || dst != q.to || !strings.HasPrefix(string(payload), "answer to q") {
			t.Errorf("answer %v: %s -> %s %q", ok, src, dst, payload)
		}
	}
	// The counts are taken after the handler's write, which the peer may
	// read first.
	testkit.Eventually(t, "2 packets in and 2 out in the stats", func() bool {
		st := s.Stats()
		return st.PacketsOut == 2 && st.PacketsIn == 2
	})
}
