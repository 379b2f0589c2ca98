package stack

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The UDP fast path (issue 12, DNS): a datagram to an address and port
// given to HandleUDP is taken from the raw packet the link read, before
// gVisor sees it, and handed to its UDPHandler on the same goroutine. For a
// DNS query that skips gVisor's packet buffer, IP layer and transport
// demultiplexing, which were a fifth of an answered query's CPU.
//
// Only the plain case is taken here: IPv4 without options or fragments,
// IPv6 whose first next header is UDP, a unicast sender, lengths that agree
// and a valid checksum (unless the link's checksums are offloaded, where
// gVisor does not check them either). Anything else, garbage included,
// goes to gVisor as before, which delivers it to handleUDPPacket or drops
// it: the fast path never answers a packet gVisor would have dropped.

// takeUDP is the link's fast path: it reports whether b, one raw IP packet,
// was a datagram for a UDPHandler and was handed to it. b is not kept.
func (s *Stack) takeUDP(b []byte, csumOffloaded bool) bool {
	handlers := s.udpHandlers.Load()
	if handlers == nil {
		return false
	}
	src, dst, payload, ok := parseUDP(b, !csumOffloaded)
	if !ok {
		return false
	}
	h := (*handlers)[dst]
	if h == nil {
		return false
	}
	h(src, dst, payload)
	return true
}

// parseUDP returns the sender, the destination and the payload of b when b
// is a plain, valid UDP datagram in IPv4 or IPv6 (see above); ok is false
// for anything else. The checksums are verified when verify is set. payload
// points into b.
func parseUDP(b []byte, verify bool) (src, dst netip.AddrPort, payload []byte, ok bool) {
	if len(b) == 0 {
		return src, dst, nil, false
	}
	var (
		srcA, dstA netip.Addr
		udp        []byte // the UDP header and what follows, to the IP packet's end
	)
	switch header.IPVersion(b) {
	case header.IPv4Version:
		if len(b) < header.IPv4MinimumSize {
			return src, dst, nil, false
		}
		ip := header.IPv4(b)
		total := int(ip.TotalLength())
		if ip.HeaderLength() != header.IPv4MinimumSize || total < header.IPv4MinimumSize+header.UDPMinimumSize || total > len(b) ||
			ip.More() || ip.FragmentOffset() != 0 || ip.TransportProtocol() != header.UDPProtocolNumber {
			return src, dst, nil, false
		}
		if verify && !ip.IsChecksumValid() {
			return src, dst, nil, false
		}
		srcA = netip.AddrFrom4([4]byte(b[12:16]))
		dstA = netip.AddrFrom4([4]byte(b[16:20]))
		udp = b[header.IPv4MinimumSize:total]
	case header.IPv6Version:
		if len(b) < header.IPv6MinimumSize {
			return src, dst, nil, false
		}
		ip := header.IPv6(b)
		total := header.IPv6MinimumSize + int(ip.PayloadLength())
		if ip.NextHeader() != uint8(header.UDPProtocolNumber) || total < header.IPv6MinimumSize+header.UDPMinimumSize || total > len(b) {
			return src, dst, nil, false
		}
		srcA = netip.AddrFrom16([16]byte(b[8:24]))
		dstA = netip.AddrFrom16([16]byte(b[24:40]))
		udp = b[header.IPv6MinimumSize:total]
	default:
		return src, dst, nil, false
	}
	// A sender the answer could go back to: not multicast, broadcast,
	// unspecified, loopback or link-local (gVisor refuses some of these
	// and the rest are no client of ours; it decides for them).
	if !srcA.IsGlobalUnicast() || srcA == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return src, dst, nil, false
	}
	u := header.UDP(udp)
	length := int(u.Length())
	if length < header.UDPMinimumSize || length > len(udp) {
		return src, dst, nil, false
	}
	if verify {
		sum := u.Checksum()
		if sum == 0 && srcA.Is6() {
			return src, dst, nil, false // IPv6 requires a checksum (RFC 8200 section 8.1)
		}
		if sum != 0 && !udpChecksumValid(srcA, dstA, udp[:length]) {
			return src, dst, nil, false
		}
	}
	return netip.AddrPortFrom(srcA, u.SourcePort()), netip.AddrPortFrom(dstA, u.DestinationPort()),
		udp[header.UDPMinimumSize:length], true
}

// udpChecksumValid checks the checksum of the UDP datagram u (header and
// payload) sent from src to dst.
func udpChecksumValid(src, dst netip.Addr, u []byte) bool {
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, toTCPIP(src), toTCPIP(dst), uint16(len(u)))
	return checksum.Checksum(u, xsum) == 0xffff
}

// appendUDP appends to b one IP packet holding payload in a UDP datagram
// from src to dst, which are of the same family and unmapped, with the IP
// and UDP checksums computed. The caller checks that it fits.
func appendUDP(b []byte, src, dst netip.AddrPort, payload []byte) []byte {
	sa, da := src.Addr(), dst.Addr()
	udpLen := header.UDPMinimumSize + len(payload)
	start := len(b)
	ipLen := header.IPv6MinimumSize
	if sa.Is4() {
		ipLen = header.IPv4MinimumSize
	}
	b = append(b, make([]byte, ipLen+header.UDPMinimumSize)...)
	b = append(b, payload...)
	pkt := b[start:]
	srcA, dstA := toTCPIP(sa), toTCPIP(da)
	if sa.Is4() {
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(len(pkt)),
			TTL:         udpTTL,
			Protocol:    uint8(header.UDPProtocolNumber),
			SrcAddr:     srcA,
			DstAddr:     dstA,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	} else {
		header.IPv6(pkt).Encode(&header.IPv6Fields{
			PayloadLength:     uint16(udpLen),
			TransportProtocol: header.UDPProtocolNumber,
			HopLimit:          udpTTL,
			SrcAddr:           srcA,
			DstAddr:           dstA,
		})
	}
	u := header.UDP(pkt[ipLen:])
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(udpLen))
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, srcA, dstA, uint16(udpLen))
	xsum = checksum.Checksum(payload, xsum)
	u.SetChecksum(^u.CalculateChecksum(xsum))
	if u.Checksum() == 0 {
		u.SetChecksum(0xffff) // RFC 768: a zero sum is sent as all ones
	}
	return b
}

// udpOut is a buffer for writeUDPDirect: the packet, after the
// virtio_net_hdr when the link has offloads, and the one-packet batch that
// carries it to the PacketIO.
type udpOut struct {
	b    []byte
	pkts [1][]byte
}

var udpOuts = sync.Pool{New: func() any { return &udpOut{b: make([]byte, 0, 2048)} }}

// writeUDPDirect writes one UDP datagram to the PacketIO on the caller's
// goroutine (the link's direct mode: a ConcurrentWriter). For a DNS answer
// made on the goroutine that read its query, that is one write(2) and no
// hand-over to the writer goroutine; the answer does not wait behind a
// full outbound queue either. src and dst are unmapped and of one family.
func (s *Stack) writeUDPDirect(src, dst netip.AddrPort, payload []byte) error {
	select {
	case <-s.done:
		return opError("write", "udp", dst, ErrClosed)
	default:
	}
	o := udpOuts.Get().(*udpOut)
	b := o.b[:0]
	if s.link.offload {
		b = append(b, make([]byte, virtioNetHdrLen)...) // a zero header: no GSO, the checksum is complete
	}
	b = appendUDP(b, src, dst, payload)
	o.pkts[0] = b
	err := s.link.io.WritePackets(o.pkts[:])
	o.pkts[0] = nil
	if cap(b) <= 64<<10 {
		o.b = b[:0]
		udpOuts.Put(o)
	}
	if err != nil {
		s.link.droppedOut.Add(1)
		if s.isClosed() {
			err = errors.Join(ErrClosed, err)
		}
		return opError("write", "udp", dst, err)
	}
	s.link.packetsOut.Add(1)
	return nil
}
