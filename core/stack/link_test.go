package stack

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

func TestIPProtocol(t *testing.T) {
	tests := []struct {
		name   string
		pkt    []byte
		want   tcpip.NetworkProtocolNumber
		wantOK bool
	}{
		{name: "empty", pkt: nil},
		{name: "IPv4 minimum header", pkt: append([]byte{0x45}, make([]byte, 19)...), want: header.IPv4ProtocolNumber, wantOK: true},
		{name: "IPv4 one byte short", pkt: append([]byte{0x45}, make([]byte, 18)...)},
		{name: "IPv6 minimum header", pkt: append([]byte{0x60}, make([]byte, 39)...), want: header.IPv6ProtocolNumber, wantOK: true},
		{name: "IPv6 one byte short", pkt: append([]byte{0x60}, make([]byte, 38)...)},
		{name: "version 0", pkt: make([]byte, 60)},
		{name: "version 5", pkt: append([]byte{0x50}, make([]byte, 59)...)},
		{name: "version 15", pkt: bytes.Repeat([]byte{0xff}, 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ipProtocol(tt.pkt)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Errorf("ipProtocol() = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// newPacket is a PacketBuffer holding hdr as its network header, in the
// reserved space, and payload as its data, the way gVisor builds them.
func newPacket(hdr, payload []byte) *stack.PacketBuffer {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: len(hdr) + 16,
		Payload:            buffer.MakeWithData(payload),
	})
	copy(pkt.NetworkHeader().Push(len(hdr)), hdr)
	return pkt
}

func TestAppendPacket(t *testing.T) {
	hdr := bytes.Repeat([]byte{0x45}, 20)
	payload := []byte("payload after the header")
	pkt := newPacket(hdr, payload)
	defer pkt.DecRef()
	got := appendPacket([]byte("keep:"), pkt)
	want := append(append([]byte("keep:"), hdr...), payload...)
	if !bytes.Equal(got, want) {
		t.Errorf("appendPacket = %q, want %q", got, want)
	}
}

func TestWritePacketsFullQueue(t *testing.T) {
	done := make(chan struct{})
	l := &link{mtu: 1500, done: done, out: make(chan *stack.PacketBuffer, 1)}
	send := func() tcpip.Error {
		var pkts stack.PacketBufferList
		pkt := newPacket(make([]byte, 20), []byte("x"))
		defer pkt.DecRef()
		pkts.PushBack(pkt)
		_, err := l.WritePackets(pkts)
		return err
	}
	if err := send(); err != nil {
		t.Fatalf("first packet: %v", err)
	}
	// Nobody drains the queue: the sender waits maxQueueWait, then drops.
	if _, ok := send().(*tcpip.ErrNoBufferSpace); !ok {
		t.Errorf("packet to a full queue: want ErrNoBufferSpace")
	}
	if got := l.stats().DroppedOut; got != 1 {
		t.Errorf("DroppedOut = %d, want 1", got)
	}
	// A sender waiting on a full queue is released by Close.
	errc := make(chan tcpip.Error, 1)
	go func() { errc <- send() }()
	close(done)
	if _, ok := (<-errc).(*tcpip.ErrClosedForSend); !ok {
		t.Errorf("waiting sender after close: want ErrClosedForSend")
	}
	l.close()
	if _, ok := send().(*tcpip.ErrClosedForSend); !ok {
		t.Errorf("send after close: want ErrClosedForSend")
	}
	if len(l.out) != 0 {
		t.Errorf("close left %d packets queued", len(l.out))
	}
}

// sinkIO is a PacketIO that discards writes and blocks reads until Close.
type sinkIO struct {
	once sync.Once
	done chan struct{}
}

func (s *sinkIO) ReadPackets([][]byte, []int) (int, error) {
	<-s.done
	return 0, net.ErrClosed
}

func (s *sinkIO) WritePackets([][]byte) error { return nil }

func (s *sinkIO) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

// FuzzDeliver feeds arbitrary bytes to a running stack as inbound packets.
// Whatever arrives from the OS must never crash it.
func FuzzDeliver(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0x45},
		append([]byte{0x45, 0, 0, 40}, make([]byte, 36)...),
		append([]byte{0x60, 0, 0, 0, 0, 20, 6, 64}, make([]byte, 52)...),
		bytes.Repeat([]byte{0xff}, 100),
	} {
		f.Add(seed)
	}
	s, err := New(Config{
		IO:        &sinkIO{done: make(chan struct{})},
		Addresses: []netip.Addr{netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("fd00::2")},
	})
	if err != nil {
		f.Fatal(err)
	}
	// Run drains the stack's answers (RSTs, ICMP errors) into the sink.
	ran := make(chan error, 1)
	go func() { ran <- s.Run(context.Background()) }()
	defer func() {
		s.Close()
		<-ran
	}()
	f.Fuzz(func(t *testing.T, pkt []byte) {
		s.link.deliver(pkt)
	})
}

// TestOutQueueLen: the outbound queue is bounded in bytes, not packets,
// so that super-segments (offloads, or a 65000-byte MTU) cannot pin 1024
// times 64 KiB; small packets still get a deep queue.
func TestOutQueueLen(t *testing.T) {
	tests := []struct {
		name string
		size int
		want int
	}{
		{name: "MTU 1500", size: 1500, want: outQueueBytes / 1500},
		{name: "MTU 9000", size: 9000, want: outQueueBytes / 9000},
		{name: "super-segments", size: virtioNetHdrLen + gsoMaxSize, want: minOutQueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := outQueueLen(tt.size)
			if got != tt.want {
				t.Errorf("outQueueLen(%d) = %d, want %d", tt.size, got, tt.want)
			}
			if got > minOutQueue && got*tt.size > outQueueBytes {
				t.Errorf("%d packets of %d bytes exceed the %d-byte bound", got, tt.size, outQueueBytes)
			}
		})
	}
	l := newLink(&sinkIO{done: make(chan struct{})}, 65000, nil)
	if got := cap(l.out); got != minOutQueue {
		t.Errorf("queue of %d packets at MTU 65000, want %d", got, minOutQueue)
	}
}
