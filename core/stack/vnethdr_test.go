package stack

import (
	"errors"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// hdrBytes is a virtio_net_hdr followed by n bytes of packet.
func hdrBytes(h virtioNetHdr, n int) []byte {
	b := make([]byte, virtioNetHdrLen+n)
	h.encode(b)
	return b
}

func TestDecodeVirtioNetHdr(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		wantErr bool
	}{
		{name: "short", b: make([]byte, virtioNetHdrLen-1), wantErr: true},
		{name: "empty header, no offload", b: hdrBytes(virtioNetHdr{}, 40)},
		{name: "checksum left to us", b: hdrBytes(virtioNetHdr{flags: virtioNetHdrFNeedsCsum, csumStart: 20, csumOffset: 16}, 40)},
		{name: "checksum field past the end", b: hdrBytes(virtioNetHdr{flags: virtioNetHdrFNeedsCsum, csumStart: 20, csumOffset: 16}, 37), wantErr: true},
		{name: "TCPv4 super-segment", b: hdrBytes(virtioNetHdr{flags: virtioNetHdrFNeedsCsum, gsoType: virtioNetHdrGSOTCPv4, hdrLen: 40, gsoSize: 1448, csumStart: 20, csumOffset: 16}, 60000)},
		{name: "TCPv6 with ECN", b: hdrBytes(virtioNetHdr{flags: virtioNetHdrFNeedsCsum, gsoType: virtioNetHdrGSOTCPv6 | virtioNetHdrGSOECN, hdrLen: 60, gsoSize: 1428, csumStart: 40, csumOffset: 16}, 3000)},
		{name: "GSO header longer than the packet", b: hdrBytes(virtioNetHdr{gsoType: virtioNetHdrGSOTCPv4, hdrLen: 100}, 60), wantErr: true},
		{name: "UDP fragmentation offload (not asked for)", b: hdrBytes(virtioNetHdr{gsoType: 3}, 60), wantErr: true},
		{name: "UDP segmentation offload (not asked for)", b: hdrBytes(virtioNetHdr{gsoType: 5}, 60), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeVirtioNetHdr(tt.b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeVirtioNetHdr() error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errVirtioNetHdr) {
				t.Errorf("error %v does not wrap errVirtioNetHdr", err)
			}
		})
	}
}

func TestVirtioNetHdrRoundTrip(t *testing.T) {
	want := virtioNetHdr{flags: 1, gsoType: 4, hdrLen: 0x0102, gsoSize: 0x0304, csumStart: 0x0506, csumOffset: 0x0708}
	b := hdrBytes(want, 0x0506+0x0708+2)
	// Little-endian on the wire, whatever the host's order.
	if b[2] != 0x02 || b[3] != 0x01 {
		t.Errorf("hdrLen encoded as % x, want 02 01", b[2:4])
	}
	got, err := decodeVirtioNetHdr(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

// tcpPacket is an outbound TCP packet as gVisor hands it to the link: an
// IPv4 and a TCP header of 20 bytes each, then payload bytes of data.
func tcpPacket(payload int, gso stack.GSO) *stack.PacketBuffer {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: header.IPv4MinimumSize + header.TCPMinimumSize,
		Payload:            buffer.MakeWithData(make([]byte, payload)),
	})
	pkt.TransportHeader().Push(header.TCPMinimumSize)
	pkt.NetworkHeader().Push(header.IPv4MinimumSize)
	pkt.GSOOptions = gso
	return pkt
}

func TestVirtioNetHdrFor(t *testing.T) {
	hostGSO := stack.GSO{Type: stack.GSOTCPv4, NeedsCsum: true, CsumOffset: header.TCPChecksumOffset, MSS: 1448, L3HdrLen: header.IPv4MinimumSize, MaxSize: gsoMaxSize}
	tests := []struct {
		name    string
		payload int
		gso     stack.GSO
		want    virtioNetHdr
	}{
		{name: "no GSO: full checksum, empty header", payload: 5000, gso: stack.GSO{}},
		{name: "fits one segment: kernel only checksums", payload: 1448, gso: hostGSO,
			want: virtioNetHdr{flags: virtioNetHdrFNeedsCsum, csumStart: 20, csumOffset: 16}},
		{name: "super-segment: kernel cuts at the MSS", payload: 60000, gso: hostGSO,
			want: virtioNetHdr{flags: virtioNetHdrFNeedsCsum, gsoType: virtioNetHdrGSOTCPv4, hdrLen: 40, gsoSize: 1448, csumStart: 20, csumOffset: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := tcpPacket(tt.payload, tt.gso)
			defer pkt.DecRef()
			if got := virtioNetHdrFor(pkt); got != tt.want {
				t.Errorf("virtioNetHdrFor() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
