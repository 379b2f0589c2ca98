package stack

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
