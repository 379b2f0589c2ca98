package tunnel

import (
	"sync"

	"google.golang.org/grpc/mem"
)

// bufferPool is a mem.BufferPool of buffers of one capacity. Get does not
// zero them: every user overwrites what it asked for.
type bufferPool struct {
	size int // the capacity of every buffer in pool
	pool sync.Pool
}

func newBufferPool(size int) *bufferPool {
	p := &bufferPool{size: size}
	p.pool.New = func() any {
		b := make([]byte, 0, size)
		return &b
	}
	return p
}

// Get implements mem.BufferPool; a length beyond the pool's size gets a
// buffer of its own.
func (p *bufferPool) Get(length int) *[]byte {
	if length > p.size {
		b := make([]byte, length)
		return &b
	}
	b := p.pool.Get().(*[]byte)
	*b = (*b)[:length]
	return b
}

// Put implements mem.BufferPool; a buffer of another capacity is left to
// the garbage collector.
func (p *bufferPool) Put(b *[]byte) {
	if cap(*b) == p.size {
		p.pool.Put(b)
	}
}

// GRPCBufferPool is the pool for the gRPC connection that carries the
// tunnel, on both ends (experimental.WithBufferPool on the client,
// experimental.BufferPool on the proxy): gRPC reads every HTTP/2 data
// frame into a buffer from it. gRPC's default pool zeroes each buffer it
// hands out, which was 5–8% of the CPU of either end of a bulk transfer
// (docs/benchmarks.md); this one does not, which is safe because gRPC
// fills a buffer for a frame with io.ReadFull before anything reads it
// (the same reasoning as gRPC's own non-zeroing pools for ALTS and its
// write buffers, grpc-go #8919, #9032). Buffers of other uses (the
// proto codec's marshalling) are overwritten whole as well.
var GRPCBufferPool mem.BufferPool = tieredPool{
	newBufferPool(256), newBufferPool(4 << 10), newBufferPool(16 << 10),
	newBufferPool(32 << 10), newBufferPool(1 << 20),
}

// tieredPool hands out a buffer from the smallest of its pools (in
// increasing size) that fits; a larger request gets a buffer of its own.
type tieredPool []*bufferPool

func (t tieredPool) Get(length int) *[]byte {
	for _, p := range t {
		if length <= p.size {
			return p.Get(length)
		}
	}
	b := make([]byte, length)
	return &b
}

func (t tieredPool) Put(b *[]byte) {
	for _, p := range t {
		if cap(*b) == p.size {
			p.pool.Put(b)
			return
		}
	}
}
