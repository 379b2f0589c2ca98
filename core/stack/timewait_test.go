package stack_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/stack/stacktest"
)

// TestPortReusedAfterActiveClose: when the app's side closes first, the
// netstack is the active closer, and the client, which closes second,
// keeps no TIME_WAIT of its own: Linux may give the same source port to
// the client's next connection to the same address at once. That SYN
// must reach HandleTCP. With gVisor's default TIME_WAIT it was dropped for
// 60 s (gVisor hands a SYN in TIME_WAIT only to a listener, never to the
// forwarder): pgbench -C stalled for 35–69 s.
func TestPortReusedAfterActiveClose(t *testing.T) {
	checkGoroutines(t)
	vnetIO, peer := stacktest.Pipe(64)
	calls := make(chan struct{}, 4)
	vnet, err := stack.New(stack.Config{
		IO:     vnetIO,
		Logger: testLogger(t),
		HandleTCP: func(ctx context.Context, req *stack.TCPRequest) {
			calls <- struct{}{}
			if conn, err := req.Accept(); err == nil {
				conn.Close() // the app's side closes first
			}
		},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runStack(t, "vnet", vnet)
	out := readSegments(t, peer)
	send := func(pkt []byte) {
		t.Helper()
		if err := peer.WritePackets([][]byte{pkt}); err != nil {
			t.Fatalf("write: %v", err)
		}
	}

	src, dst := netip.MustParseAddrPort("100.64.0.1:47416"), netip.MustParseAddrPort("100.64.1.7:5432")
	const iss = 1000
	send(tcpPacket(src, dst, iss, 0, header.TCPFlagSyn))
	synAck := expectSegment(t, out, header.TCPFlagSyn|header.TCPFlagAck, nil)
	send(tcpPacket(src, dst, iss+1, synAck.SequenceNumber()+1, header.TCPFlagAck))
	fin := expectSegment(t, out, header.TCPFlagFin|header.TCPFlagAck, nil)
	// The client acknowledges the netstack's FIN with its own: the
	// netstack acknowledges that and its side is done.
	send(tcpPacket(src, dst, iss+1, fin.SequenceNumber()+1, header.TCPFlagFin|header.TCPFlagAck))
	expectSegment(t, out, header.TCPFlagAck, nil)

	// The same four-tuple, a new connection (a higher sequence number, as
	// a kernel picks it), its SYN retransmitted as a kernel would.
	newSyn := tcpPacket(src, dst, iss+100000, 0, header.TCPFlagSyn)
	send(newSyn)
	expectSegment(t, out, header.TCPFlagSyn|header.TCPFlagAck, func() { send(newSyn) })
	if n := len(calls); n != 2 {
		t.Errorf("HandleTCP called %d times, want 2 (one per connection)", n)
	}
}

// readSegments delivers the TCP segments the stack writes to peer until
// the pipe closes (at the test's end).
func readSegments(t *testing.T, peer stack.PacketIO) <-chan header.TCP {
	out := make(chan header.TCP, 64)
	t.Cleanup(func() { peer.Close() })
	go func() {
		defer close(out)
		for {
			bufs, sizes := [][]byte{make([]byte, 65536)}, []int{0}
			if _, err := peer.ReadPackets(bufs, sizes); err != nil {
				return
			}
			pkt := bufs[0][:sizes[0]]
			if header.IPVersion(pkt) != header.IPv4Version || header.IPv4(pkt).TransportProtocol() != header.TCPProtocolNumber {
				continue
			}
			out <- header.TCP(header.IPv4(pkt).Payload())
		}
	}()
	return out
}

// expectSegment waits for a segment with exactly flags, skipping others,
// and calls again (if not nil) every 200 ms meanwhile, as a kernel
// retransmits. It fails the test after waitLong: only a bug waits that long.
func expectSegment(t *testing.T, out <-chan header.TCP, flags header.TCPFlags, again func()) header.TCP {
	t.Helper()
	deadline := time.After(waitLong)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case seg, ok := <-out:
			if !ok {
				t.Fatalf("pipe closed waiting for %v", flags)
			}
			if seg.Flags() == flags {
				return seg
			}
		case <-tick.C:
			if again != nil {
				again()
			}
		case <-deadline:
			t.Fatalf("no segment with flags %v within %v", flags, waitLong)
		}
	}
}
