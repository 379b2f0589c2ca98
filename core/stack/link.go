package stack

import (
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

const (
	// outQueueBytes bounds, in bytes of buffer room, the packets gVisor
	// has sent that are not yet written to the PacketIO: 1024 packets of
	// 1500 bytes, or 32 super-segments of 64 KiB with offloads (or at MTU
	// 65000), a few milliseconds of a fast link either way. A count of
	// packets alone would let 1024 super-segments pin 64 MiB.
	outQueueBytes = 1536 << 10
	// minOutQueue keeps room for a burst of small packets (ACKs) even when
	// each slot is sized for a super-segment.
	minOutQueue = 32
	// maxQueueWait is how long a sender waits for room in a full outbound
	// queue before the packet is dropped. Waiting is the back-pressure that
	// paces TCP to the PacketIO (a drop costs the netstack a
	// retransmission and halves its window). The bound exists for the
	// inbound goroutine, which sends RSTs and ICMP errors synchronously:
	// with two stacks joined by blocking pipes, both inbound goroutines
	// could otherwise wait on each other's full queue for ever.
	maxQueueWait = 50 * time.Millisecond
	// batchLen is the most packets moved per PacketIO call in either
	// direction.
	batchLen = 64
)

// Stats counts packets at the seam between the PacketIO and the netstack.
type Stats struct {
	// PacketsIn were read from the PacketIO and handed to the netstack.
	PacketsIn uint64
	// DroppedIn were read but were no IP packet the netstack could take:
	// empty, of an IP version other than 4 or 6, or shorter than the fixed
	// IP header. (The netstack counts the subtler faults it finds itself.)
	DroppedIn uint64
	// PacketsOut were written to the PacketIO.
	PacketsOut uint64
	// DroppedOut were sent by the netstack but never written: the outbound
	// queue was full, or PacketIO.WritePackets failed.
	DroppedOut uint64
	// SYNsDropped were TCP SYNs ignored because Config.MaxInFlightTCP
	// handshakes were already being decided.
	SYNsDropped uint64
}

// link is the netstack's one NIC: a stack.LinkEndpoint whose far side is a
// PacketIO. gVisor hands it outbound packets through WritePackets, which
// queues them for writeLoop; readLoop reads the PacketIO and delivers
// inbound packets to the dispatcher, one readLoop per queue of a
// MultiQueue (gVisor's DeliverNetworkPacket takes concurrent deliveries,
// as from its own multi-queue fdbased endpoint).
type link struct {
	io   PacketIO        // never nil
	mtu  uint32          // fixed at creation
	done <-chan struct{} // closed when the Stack starts closing

	// offload: every packet to and from io starts with a virtio_net_hdr
	// (Offloader). Fixed at creation.
	offload bool
	// batch is the most packets per PacketIO call (Batcher), 1 to
	// batchLen. Fixed at creation.
	batch int
	// queues is the number of readLoops (MultiQueue), at least 1; mq is
	// io as a MultiQueue when queues > 1. Fixed at creation.
	queues int
	mq     MultiQueue
	// direct: io is a ConcurrentWriter, so WriteUDP writes to it itself
	// (udpfast.go). Fixed at creation.
	direct bool
	// takeUDP, set by New before the loops start, takes the datagrams for
	// HandleUDP's handlers off the raw packet before gVisor (udpfast.go).
	takeUDP func(b []byte, csumOffloaded bool) bool

	// dispatcher is the netstack's IP layer; nil until gVisor attaches the
	// NIC and again after it removes it.
	dispatcher atomic.Pointer[stack.NetworkDispatcher]

	// out holds outbound packets, each with a reference owned by the queue.
	// Senders hold outMu for reading while they send, so that once close
	// has set outClosed under the write lock nothing new arrives and the
	// drain is complete.
	out       chan *stack.PacketBuffer
	outMu     sync.RWMutex
	outClosed bool // guarded by outMu

	packetsIn, droppedIn, packetsOut, droppedOut atomic.Uint64
}

var (
	_ stack.LinkEndpoint = (*link)(nil)
	_ stack.GSOEndpoint  = (*link)(nil)
)

func newLink(io PacketIO, mtu uint32, done <-chan struct{}) *link {
	l := &link{io: io, mtu: mtu, done: done, batch: batchLen}
	if o, ok := io.(Offloader); ok {
		l.offload = o.VirtioNetHdr()
	}
	if b, ok := io.(Batcher); ok && b.BatchSize() > 0 {
		l.batch = min(b.BatchSize(), batchLen)
	}
	if c, ok := io.(ConcurrentWriter); ok {
		l.direct = c.ConcurrentWrites()
	}
	l.queues = 1
	if m, ok := io.(MultiQueue); ok && m.Queues() > 1 {
		l.queues, l.mq = m.Queues(), m
	}
	l.out = make(chan *stack.PacketBuffer, outQueueLen(l.bufSize()))
	return l
}

// outQueueLen is the outbound queue's length in packets for packets of up
// to size bytes.
func outQueueLen(size int) int {
	return max(minOutQueue, outQueueBytes/size)
}

// bufSize is the room one packet takes in a read or write buffer: the MTU,
// or with offloads a super-segment and its virtio_net_hdr.
func (l *link) bufSize() int {
	if l.offload {
		return virtioNetHdrLen + gsoMaxSize
	}
	return int(l.mtu)
}

func (l *link) stats() Stats {
	return Stats{
		PacketsIn:  l.packetsIn.Load(),
		DroppedIn:  l.droppedIn.Load(),
		PacketsOut: l.packetsOut.Load(),
		DroppedOut: l.droppedOut.Load(),
	}
}

// readLoop moves packets from queue q of the PacketIO (all of it when it
// has one queue) into the netstack until a read fails, and returns that
// error.
func (l *link) readLoop(q int) error {
	bufs := make([][]byte, l.batch)
	for i := range bufs {
		bufs[i] = make([]byte, l.bufSize())
	}
	sizes := make([]int, l.batch)
	read := l.io.ReadPackets
	if l.mq != nil {
		read = func(bufs [][]byte, sizes []int) (int, error) { return l.mq.ReadQueue(q, bufs, sizes) }
	}
	for {
		n, err := read(bufs, sizes)
		if err != nil {
			return err
		}
		for i := range min(n, len(bufs)) {
			size := sizes[i]
			if size < 0 || size > len(bufs[i]) {
				l.droppedIn.Add(1)
				continue
			}
			b := bufs[i][:size]
			if l.offload {
				if _, err := decodeVirtioNetHdr(b); err != nil {
					l.droppedIn.Add(1)
					continue
				}
				b = b[virtioNetHdrLen:]
			}
			l.deliver(b)
		}
	}
}

// deliver hands one raw IP packet to the netstack. b is copied, so the
// caller may reuse it at once.
func (l *link) deliver(b []byte) {
	if l.takeUDP != nil && l.takeUDP(b, l.offload) {
		l.packetsIn.Add(1)
		return
	}
	proto, ok := ipProtocol(b)
	d := l.dispatcher.Load()
	if !ok || d == nil {
		l.droppedIn.Add(1)
		return
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	(*d).DeliverNetworkPacket(proto, pkt)
	pkt.DecRef()
	l.packetsIn.Add(1)
}

// ipProtocol tells which network protocol b claims to be from its version
// nibble, and whether it is long enough to hold that version's fixed header.
// A TUN carries no link header, so this is the only place to learn it.
func ipProtocol(b []byte) (tcpip.NetworkProtocolNumber, bool) {
	if len(b) == 0 {
		return 0, false
	}
	switch header.IPVersion(b) {
	case header.IPv4Version:
		return header.IPv4ProtocolNumber, len(b) >= header.IPv4MinimumSize
	case header.IPv6Version:
		return header.IPv6ProtocolNumber, len(b) >= header.IPv6MinimumSize
	}
	return 0, false
}

// writeLoop moves queued outbound packets to the PacketIO, a batch at a
// time, until l.done is closed.
func (l *link) writeLoop() {
	var (
		pkts = make([]*stack.PacketBuffer, 0, l.batch)
		bufs = make([][]byte, l.batch)
		out  = make([][]byte, 0, l.batch)
	)
	for i := range bufs {
		bufs[i] = make([]byte, 0, l.bufSize())
	}
	for {
		select {
		case p := <-l.out:
			pkts = append(pkts[:0], p)
		case <-l.done:
			return
		}
		// Take whatever else is already queued: one WritePackets call per
		// burst instead of one per packet.
	fill:
		for len(pkts) < l.batch {
			select {
			case p := <-l.out:
				pkts = append(pkts, p)
			default:
				break fill
			}
		}
		out = out[:0]
		for i, p := range pkts {
			b := bufs[i][:0]
			if l.offload {
				b = b[:virtioNetHdrLen]
				virtioNetHdrFor(p).encode(b)
			}
			bufs[i] = appendPacket(b, p)
			out = append(out, bufs[i])
			p.DecRef()
			pkts[i] = nil
		}
		if err := l.io.WritePackets(out); err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			// Lost like packets on a wire; TCP retransmits. A PacketIO
			// that is gone for good also fails ReadPackets, which ends Run.
			l.droppedOut.Add(uint64(len(out)))
			continue
		}
		l.packetsOut.Add(uint64(len(out)))
	}
}

// appendPacket appends the bytes of p, from its IP header on, to b. It walks
// the views itself because PacketBuffer.AsSlices allocates.
func appendPacket(b []byte, p *stack.PacketBuffer) []byte {
	views, skip := p.AsViewList()
	for v := views.Front(); v != nil; v = v.Next() {
		s := v.AsSlice()
		if skip >= len(s) {
			skip -= len(s)
			continue
		}
		b = append(b, s[skip:]...)
		skip = 0
	}
	return b
}

// close stops WritePackets from queueing and releases what is queued. Call
// it after writeLoop has returned.
func (l *link) close() {
	l.outMu.Lock()
	l.outClosed = true
	l.outMu.Unlock()
	for {
		select {
		case p := <-l.out:
			p.DecRef()
		default:
			return
		}
	}
}

// WritePackets implements stack.LinkWriter. When the queue is full it waits
// for room, at most maxQueueWait per packet.
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	l.outMu.RLock()
	defer l.outMu.RUnlock()
	if l.outClosed {
		return 0, &tcpip.ErrClosedForSend{}
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
			timerPool.Put(timer)
		}
	}()
	for i, p := range pkts.AsSlice() {
		p.IncRef() // the queue's reference
		select {
		case l.out <- p:
			continue
		default:
		}
		// Full, which is the usual state during a bulk transfer: wait.
		if timer == nil {
			timer = timerPool.Get().(*time.Timer)
		}
		timer.Reset(maxQueueWait)
		select {
		case l.out <- p:
			timer.Stop()
			continue
		case <-l.done:
			p.DecRef()
			return i, &tcpip.ErrClosedForSend{}
		case <-timer.C:
			p.DecRef()
			l.droppedOut.Add(1)
			if i == 0 {
				return 0, &tcpip.ErrNoBufferSpace{}
			}
			return i, nil
		}
	}
	return pkts.Len(), nil
}

// timerPool holds stopped timers for WritePackets, which would otherwise
// make one per packet while the queue is full. Since Go 1.23 a stopped
// timer's channel holds no stale value, so a pooled timer is as good as new.
var timerPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// MTU implements stack.NetworkLinkEndpoint.
func (l *link) MTU() uint32 { return l.mtu }

// SetMTU implements stack.NetworkLinkEndpoint. The MTU is the PacketIO's and
// fixed when the Stack is made, so this does nothing.
func (l *link) SetMTU(uint32) {}

// MaxHeaderLength implements stack.NetworkLinkEndpoint: no link header.
func (l *link) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.NetworkLinkEndpoint: a TUN has none.
func (l *link) LinkAddress() tcpip.LinkAddress { return "" }

// SetLinkAddress implements stack.NetworkLinkEndpoint.
func (l *link) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.NetworkLinkEndpoint. Without offloads,
// checksums are computed and verified in the netstack. With them, the
// kernel leaves the checksum of what it sends us partial (NEEDS_CSUM) and
// only the local kernel writes to a TUN, so there is nothing to verify;
// what we send, Linux checksums where it must (virtioNetHdrFor).
func (l *link) Capabilities() stack.LinkEndpointCapabilities {
	if l.offload {
		return stack.CapabilityRXChecksumOffload
	}
	return stack.CapabilityNone
}

// SupportedGSO implements stack.GSOEndpoint: with offloads, gVisor's TCP
// builds segments of up to GSOMaxSize and the kernel cuts them.
func (l *link) SupportedGSO() stack.SupportedGSO {
	if l.offload {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

// GSOMaxSize implements stack.GSOEndpoint.
func (l *link) GSOMaxSize() uint32 {
	if l.offload {
		return gsoMaxSize
	}
	return 0
}

// Attach implements stack.NetworkLinkEndpoint.
func (l *link) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		l.dispatcher.Store(nil)
		return
	}
	l.dispatcher.Store(&d)
}

// IsAttached implements stack.NetworkLinkEndpoint.
func (l *link) IsAttached() bool { return l.dispatcher.Load() != nil }

// Wait implements stack.NetworkLinkEndpoint. The loops belong to the Stack,
// which waits for them itself.
func (l *link) Wait() {}

// ARPHardwareType implements stack.NetworkLinkEndpoint.
func (l *link) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.NetworkLinkEndpoint: no link header to add.
func (l *link) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.NetworkLinkEndpoint: no link header to parse.
func (l *link) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.NetworkLinkEndpoint. gVisor calls it when the NIC
// is removed; the Stack releases the queue itself after its loops stop.
func (l *link) Close() {}

// SetOnCloseAction implements stack.NetworkLinkEndpoint.
func (l *link) SetOnCloseAction(func()) {}
