package stack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The virtio_net_hdr that a Linux TUN opened with IFF_VNET_HDR puts in
// front of every packet (include/uapi/linux/virtio_net.h). All fields are
// little-endian. With TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6) the
// kernel hands over TCP super-segments of up to 64 KiB whose checksum it
// left to the receiver, and takes the same from us: neither side cuts bulk
// data to the MTU or checksums it (wireguard-go tun/offload_linux.go and
// gVisor link/fdbased speak the same header).
const (
	virtioNetHdrLen = 10

	virtioNetHdrFNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM

	virtioNetHdrGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	virtioNetHdrGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	virtioNetHdrGSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	virtioNetHdrGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN, or'ed into gsoType

	// gsoMaxSize is the largest packet the link hands the kernel and the
	// kernel hands us with offloads on: an IP packet's length field is 16
	// bits (no BIG TCP).
	gsoMaxSize = MaxMTU
)

// virtioNetHdr is struct virtio_net_hdr.
type virtioNetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16 // bytes of IP and TCP header in a GSO packet
	gsoSize    uint16 // payload bytes per segment the receiver cuts
	csumStart  uint16 // where the checksummed part starts (the TCP/UDP header)
	csumOffset uint16 // where in it the checksum goes
}

var errVirtioNetHdr = errors.New("bad virtio_net_hdr")

// decodeVirtioNetHdr reads the header at the start of b, as the kernel
// wrote it before a packet, and checks that what follows is a packet the
// stack can take whole: one IP packet, a TCP super-segment included (gVisor
// takes a segment longer than the MTU as it is), with the checksum either
// complete or left partial for us (the link then tells gVisor not to
// verify). UDP fragmentation offload was not asked for and is refused.
func decodeVirtioNetHdr(b []byte) (virtioNetHdr, error) {
	if len(b) < virtioNetHdrLen {
		return virtioNetHdr{}, fmt.Errorf("%w: %d bytes", errVirtioNetHdr, len(b))
	}
	h := virtioNetHdr{
		flags:      b[0],
		gsoType:    b[1],
		hdrLen:     binary.LittleEndian.Uint16(b[2:]),
		gsoSize:    binary.LittleEndian.Uint16(b[4:]),
		csumStart:  binary.LittleEndian.Uint16(b[6:]),
		csumOffset: binary.LittleEndian.Uint16(b[8:]),
	}
	pkt := len(b) - virtioNetHdrLen
	switch h.gsoType &^ virtioNetHdrGSOECN {
	case virtioNetHdrGSONone, virtioNetHdrGSOTCPv4, virtioNetHdrGSOTCPv6:
	default:
		return h, fmt.Errorf("%w: GSO type %d", errVirtioNetHdr, h.gsoType)
	}
	if h.flags&virtioNetHdrFNeedsCsum != 0 && int(h.csumStart)+int(h.csumOffset)+2 > pkt {
		return h, fmt.Errorf("%w: checksum at %d+%d past a %d-byte packet", errVirtioNetHdr, h.csumStart, h.csumOffset, pkt)
	}
	if h.gsoType != virtioNetHdrGSONone && int(h.hdrLen) > pkt {
		return h, fmt.Errorf("%w: header length %d past a %d-byte packet", errVirtioNetHdr, h.hdrLen, pkt)
	}
	return h, nil
}

// encode writes h into the first virtioNetHdrLen bytes of b.
func (h virtioNetHdr) encode(b []byte) {
	b[0] = h.flags
	b[1] = h.gsoType
	binary.LittleEndian.PutUint16(b[2:], h.hdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.gsoSize)
	binary.LittleEndian.PutUint16(b[6:], h.csumStart)
	binary.LittleEndian.PutUint16(b[8:], h.csumOffset)
}

// virtioNetHdrFor is the header for an outbound packet: gVisor marks the
// TCP segments it built for host GSO (Link.SupportedGSO) with the pseudo
// header's sum in place of the checksum, and the kernel finishes it
// (NEEDS_CSUM) and, for a segment longer than the MSS, cuts it (TCPV4/6).
// Everything else carries a full checksum and a zero header.
func virtioNetHdrFor(pkt *stack.PacketBuffer) virtioNetHdr {
	gso := pkt.GSOOptions
	if gso.Type == stack.GSONone || !gso.NeedsCsum {
		return virtioNetHdr{}
	}
	h := virtioNetHdr{
		flags:      virtioNetHdrFNeedsCsum,
		csumStart:  gso.L3HdrLen,
		csumOffset: gso.CsumOffset,
	}
	if pkt.Data().Size() > int(gso.MSS) {
		switch gso.Type {
		case stack.GSOTCPv4:
			h.gsoType = virtioNetHdrGSOTCPv4
		case stack.GSOTCPv6:
			h.gsoType = virtioNetHdrGSOTCPv6
		}
		h.hdrLen = uint16(pkt.HeaderSize())
		h.gsoSize = gso.MSS
	}
	return h
}
