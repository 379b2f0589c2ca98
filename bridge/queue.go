package main

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/vnetproject/vnet/core/vnet"
)

// queueLen bounds the packets injected by the OS and not yet read by the
// netstack: 1024 packets of 1500 bytes is 1.5 MiB per instance.
const queueLen = 1024

// packetQueue is an instance's PacketIO. The OS's packets arrive through
// inject (vnet_inject), are copied, and wait in a bounded queue for the
// netstack's ReadPackets; an injector waits while the queue is full, which
// slows the reader of the OS's packets instead of dropping them. The
// netstack's packets go straight to write (the write_packets callback),
// one batch at a time.
type packetQueue struct {
	mtu   int                       // largest packet accepted; fixed
	write func(pkts [][]byte) error // never nil; called under writeMu

	in   chan []byte   // filled packets, at most queueLen
	free chan []byte   // buffers to reuse, so steady traffic allocates nothing
	done chan struct{} // closed by Close
	once sync.Once

	writeMu sync.Mutex // serialises write: the header promises no concurrent write_packets

	injected, injectDropped, written, writeErrors atomic.Uint64
}

var _ vnet.PacketIO = (*packetQueue)(nil)

func newPacketQueue(mtu int, write func(pkts [][]byte) error) *packetQueue {
	return &packetQueue{
		mtu:   mtu,
		write: write,
		in:    make(chan []byte, queueLen),
		free:  make(chan []byte, queueLen),
		done:  make(chan struct{}),
	}
}

// errQueueClosed is what the queue's operations return after Close.
var errQueueClosed = &net.OpError{Op: "inject", Net: "vnet", Err: net.ErrClosed}

// inject copies each packet into the queue, waiting for room while it is
// full. Empty packets and packets longer than the MTU are dropped and
// counted. It fails with errQueueClosed once the queue is closed (also
// while waiting).
func (q *packetQueue) inject(pkts [][]byte) error {
	for _, p := range pkts {
		if len(p) == 0 || len(p) > q.mtu {
			q.injectDropped.Add(1)
			continue
		}
		if q.closed() {
			return errQueueClosed
		}
		buf := append(q.buffer(), p...)
		select {
		case q.in <- buf:
			q.injected.Add(1)
		case <-q.done:
			return errQueueClosed
		}
	}
	return nil
}

// drop counts a packet dropped before it reached inject (vnet_inject's
// checks, which need not build a slice over it).
func (q *packetQueue) drop() { q.injectDropped.Add(1) }

// buffer returns an empty buffer with room for one packet.
func (q *packetQueue) buffer() []byte {
	select {
	case b := <-q.free:
		return b[:0]
	default:
		return make([]byte, 0, q.mtu)
	}
}

// recycle keeps b for a later inject unless enough are kept already.
func (q *packetQueue) recycle(b []byte) {
	select {
	case q.free <- b:
	default:
	}
}

// ReadPackets implements vnet.PacketIO: it waits for one packet, then takes
// whatever else is queued, up to len(bufs).
func (q *packetQueue) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 || len(sizes) < len(bufs) {
		return 0, fmt.Errorf("read with %d buffers and %d sizes", len(bufs), len(sizes))
	}
	var p []byte
	select {
	case p = <-q.in:
	case <-q.done:
		return 0, errQueueClosed
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n], p)
		q.recycle(p)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case p = <-q.in:
		default:
			return n, nil
		}
	}
}

// WritePackets implements vnet.PacketIO: the batch goes to the OS.
func (q *packetQueue) WritePackets(pkts [][]byte) error {
	if q.closed() {
		return errQueueClosed
	}
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	if err := q.write(pkts); err != nil {
		q.writeErrors.Add(1)
		return err
	}
	q.written.Add(uint64(len(pkts)))
	return nil
}

// Close implements vnet.PacketIO: it wakes every waiting inject and read.
// It is idempotent.
func (q *packetQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *packetQueue) closed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// PacketCounts are the queue's counters, as vnet_status shows them.
type PacketCounts struct {
	Injected      uint64 `json:"injected"`
	InjectDropped uint64 `json:"inject_dropped"`
	Written       uint64 `json:"written"`
	WriteErrors   uint64 `json:"write_errors"`
	Queued        int    `json:"queued"`
}

func (q *packetQueue) counts() PacketCounts {
	return PacketCounts{
		Injected:      q.injected.Load(),
		InjectDropped: q.injectDropped.Load(),
		Written:       q.written.Load(),
		WriteErrors:   q.writeErrors.Load(),
		Queued:        len(q.in),
	}
}
