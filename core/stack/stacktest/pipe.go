// Package stacktest joins two stacks (or a stack and a test peer) with an
// in-memory packet pipe.
package stacktest

import (
	"fmt"
	"net"
	"sync"

	"github.com/vnetproject/vnet/core/stack"
)

// Pipe returns two connected PacketIO ends: packets written to one are read
// from the other, in order. Each direction buffers up to bufPackets packets
// (at least 1); a writer blocks while its direction is full, so a slow
// reader slows the writer and nothing is lost. Close on either end makes
// both ends' reads and writes fail with net.ErrClosed.
//
// As on a TUN device, a packet longer than the reader's buffer is
// truncated to fit.
func Pipe(bufPackets int) (a, b stack.PacketIO) {
	bufPackets = max(bufPackets, 1)
	p := &pipe{done: make(chan struct{})}
	ab := make(chan []byte, bufPackets)
	ba := make(chan []byte, bufPackets)
	return &end{p: p, in: ba, out: ab, name: "a"}, &end{p: p, in: ab, out: ba, name: "b"}
}

// pipe is what both ends share.
type pipe struct {
	done chan struct{} // closed by the first Close of either end
	once sync.Once
	// pool recycles packet copies: the writer takes one, the reader gives
	// it back after copying it out.
	pool sync.Pool
}

// end is one side of a pipe.
type end struct {
	p    *pipe
	in   <-chan []byte
	out  chan<- []byte
	name string
}

var _ stack.PacketIO = (*end)(nil)

// ReadPackets implements stack.PacketIO.
func (e *end) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 || len(sizes) < len(bufs) {
		return 0, fmt.Errorf("pipe %s: read with %d buffers and %d sizes", e.name, len(bufs), len(sizes))
	}
	if e.closed() {
		return 0, e.errClosed("read")
	}
	var pkt []byte
	select {
	case pkt = <-e.in:
	case <-e.p.done:
		return 0, e.errClosed("read")
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n], pkt)
		e.p.put(pkt)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case pkt = <-e.in:
		default:
			return n, nil
		}
	}
}

// WritePackets implements stack.PacketIO.
func (e *end) WritePackets(pkts [][]byte) error {
	for _, pkt := range pkts {
		if e.closed() {
			return e.errClosed("write")
		}
		cp := append(e.p.get(), pkt...)
		select {
		case e.out <- cp:
		case <-e.p.done:
			return e.errClosed("write")
		}
	}
	return nil
}

// Close implements stack.PacketIO. It closes both ends.
func (e *end) Close() error {
	e.p.once.Do(func() { close(e.p.done) })
	return nil
}

func (e *end) closed() bool {
	select {
	case <-e.p.done:
		return true
	default:
		return false
	}
}

func (e *end) errClosed(op string) error {
	return &net.OpError{Op: op, Net: "pipe", Err: net.ErrClosed}
}

func (p *pipe) get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 2048)
}

func (p *pipe) put(b []byte) {
	p.pool.Put(&b)
}

// ConcurrentWrites implements stack.ConcurrentWriter: WritePackets sends on
// a channel, which any number of goroutines may do at once.
func (e *end) ConcurrentWrites() bool { return true }
