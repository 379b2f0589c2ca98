package stack

import "net/netip"

// What the external tests need to play the kernel's side of a TUN with
// offloads (offload_test.go).

const VirtioNetHdrLen = virtioNetHdrLen

// VirtioNetHdr is a decoded virtio_net_hdr.
type VirtioNetHdr struct {
	NeedsCsum             bool
	GSO                   bool // a TCP super-segment to cut at GSOSize
	HdrLen, GSOSize       uint16
	CsumStart, CsumOffset uint16
}

// DecodeVirtioNetHdr decodes the header at the start of b.
func DecodeVirtioNetHdr(b []byte) (VirtioNetHdr, error) {
	h, err := decodeVirtioNetHdr(b)
	return VirtioNetHdr{
		NeedsCsum: h.flags&virtioNetHdrFNeedsCsum != 0,
		GSO:       h.gsoType != virtioNetHdrGSONone,
		HdrLen:    h.hdrLen, GSOSize: h.gsoSize,
		CsumStart: h.csumStart, CsumOffset: h.csumOffset,
	}, err
}

// DisableUDPFastPath makes s give every packet to gVisor, as before the
// fast path (udpfast.go). Call it before Run.
func DisableUDPFastPath(s *Stack) { s.link.takeUDP = nil }

// ParseUDP is the fast path's reading of the raw IP packet b.
func ParseUDP(b []byte, verify bool) (src, dst netip.AddrPort, payload []byte, ok bool) {
	return parseUDP(b, verify)
}
