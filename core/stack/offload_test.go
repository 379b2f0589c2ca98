package stack_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/vnetproject/vnet/core/stack"
)

// kernelIO plays a Linux TUN with offloads (IFF_VNET_HDR, TSO) in front of
// a pipe end: what the VNet stack writes, with its virtio_net_hdr, is
// checksummed and cut into MSS-sized segments as the kernel would (kernelGSO),
// and what comes from the pipe gets an empty header. The host stack on the
// far end verifies every checksum, so a wrong header or split stalls the
// transfer.
type kernelIO struct {
	stack.PacketIO
	superSegments atomic.Int64 // GSO packets the VNet stack wrote
}

func (k *kernelIO) VirtioNetHdr() bool { return true }

func (k *kernelIO) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	return readWithZeroHdr(k.PacketIO, bufs, sizes)
}

// readWithZeroHdr reads packets from io into bufs after room for a
// virtio_net_hdr, which it leaves zero (no GSO, the checksum complete),
// as a TUN with offloads hands over what it did not coalesce.
func readWithZeroHdr(io stack.PacketIO, bufs [][]byte, sizes []int) (int, error) {
	inner := make([][]byte, len(bufs))
	for i := range bufs {
		inner[i] = bufs[i][stack.VirtioNetHdrLen:]
	}
	n, err := io.ReadPackets(inner, sizes)
	for i := range n {
		clear(bufs[i][:stack.VirtioNetHdrLen])
		sizes[i] += stack.VirtioNetHdrLen
	}
	return n, err
}

func (k *kernelIO) WritePackets(pkts [][]byte) error {
	var out [][]byte
	for _, p := range pkts {
		h, err := stack.DecodeVirtioNetHdr(p)
		if err != nil {
			return err
		}
		if h.GSO {
			k.superSegments.Add(1)
		}
		segs, err := kernelGSO(p[stack.VirtioNetHdrLen:], h)
		if err != nil {
			return err
		}
		out = append(out, segs...)
	}
	return k.PacketIO.WritePackets(out)
}

// kernelGSO does what Linux does with a packet written to a TUN with a
// virtio_net_hdr: finish a partial checksum (NEEDS_CSUM) and cut a TCP
// super-segment into GSOSize pieces, each with its own IP length, IPv4 ID,
// sequence number and checksums, FIN and PSH only on the last.
func kernelGSO(pkt []byte, h stack.VirtioNetHdr) ([][]byte, error) {
	if !h.GSO {
		p := bytes.Clone(pkt)
		if h.NeedsCsum {
			at := int(h.CsumStart) + int(h.CsumOffset)
			binary.BigEndian.PutUint16(p[at:], ^checksum.Checksum(p[h.CsumStart:], 0))
		}
		return [][]byte{p}, nil
	}
	if h.GSOSize == 0 || int(h.HdrLen) > len(pkt) {
		return nil, fmt.Errorf("bad GSO header %+v for %d bytes", h, len(pkt))
	}
	hdr, payload := pkt[:h.HdrLen], pkt[h.HdrLen:]
	v4 := header.IPVersion(pkt) == header.IPv4Version
	l3 := int(h.CsumStart)
	tcp0 := header.TCP(hdr[l3:])
	var segs [][]byte
	for off := 0; off < len(payload); off += int(h.GSOSize) {
		end := min(off+int(h.GSOSize), len(payload))
		seg := append(bytes.Clone(hdr), payload[off:end]...)
		tcp := header.TCP(seg[l3:])
		tcp.SetSequenceNumber(tcp0.SequenceNumber() + uint32(off))
		if end < len(payload) {
			tcp.SetFlags(uint8(tcp0.Flags() &^ (header.TCPFlagFin | header.TCPFlagPsh)))
		}
		var src, dst = header.IPv4(seg).SourceAddress(), header.IPv4(seg).DestinationAddress()
		if v4 {
			ip := header.IPv4(seg)
			ip.SetTotalLength(uint16(len(seg)))
			ip.SetID(header.IPv4(pkt).ID() + uint16(len(segs)))
			ip.SetChecksum(0)
			ip.SetChecksum(^ip.CalculateChecksum())
		} else {
			ip := header.IPv6(seg)
			ip.SetPayloadLength(uint16(len(seg) - header.IPv6MinimumSize))
			src, dst = ip.SourceAddress(), ip.DestinationAddress()
		}
		tcp.SetChecksum(0)
		sum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(seg)-l3))
		tcp.SetChecksum(^checksum.Checksum(seg[l3:], sum))
		segs = append(segs, seg)
	}
	return segs, nil
}

// TestOffloadTransfer moves data both ways between a client on the host
// stack and an echo server behind the VNet stack, whose PacketIO speaks
// virtio_net_hdr with TCP segmentation offload: the bytes arrive intact,
// and the VNet stack did hand over super-segments.
func TestOffloadTransfer(t *testing.T) {
	for _, addr := range []netip.Addr{netip.MustParseAddr("100.64.0.9"), netip.MustParseAddr("fd00::9")} {
		t.Run(addr.String(), func(t *testing.T) {
			checkGoroutines(t)
			echo := startEcho(t)
			var k *kernelIO
			p := newPairIO(t, stack.Config{HandleTCP: relayTo(echo, nil)}, func(io stack.PacketIO) stack.PacketIO {
				k = &kernelIO{PacketIO: io}
				return k
			})
			conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, netip.AddrPortFrom(addr, 80))
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			// A bad checksum or split stalls the transfer: end it.
			conn.SetDeadline(time.Now().Add(waitLong))
			data := make([]byte, 4<<20)
			for i := range data {
				data[i] = byte(rand.Uint32())
			}
			go func() {
				conn.Write(data)
				conn.(interface{ CloseWrite() error }).CloseWrite()
			}()
			got, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			want := append(bytes.Clone(data), trailer...)
			if sha256.Sum256(got) != sha256.Sum256(want) {
				t.Fatalf("echo differs: got %d bytes, want %d", len(got), len(want))
			}
			if k.superSegments.Load() == 0 {
				t.Error("the VNet stack wrote no super-segment: host GSO is not in use")
			}
		})
	}
}
