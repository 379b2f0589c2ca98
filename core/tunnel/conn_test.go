package tunnel

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"github.com/vnetproject/vnet/core/api"
)

// chanStream is one end of an in-memory stream: frames sent on one end are
// received, in order, on the other. Closing an end ends the other's Recv
// with io.EOF once the frames sent before have been received. Each frame
// received goes through the codec as on the wire: marshalled, cut into
// buffers of piece bytes from pool (as gRPC reads HTTP/2 data frames into
// its pool's buffers), decoded, and those buffers freed as gRPC frees them.
type chanStream struct {
	in, out chan *api.Frame
	once    *sync.Once
	pool    *countingPool
	piece   int // the size of each buffer a received frame is cut into; 0: one buffer
}

func streamPair(piece int) (a, b chanStream) {
	ab, ba := make(chan *api.Frame, 16), make(chan *api.Frame, 16)
	pool := newCountingPool()
	return chanStream{in: ba, out: ab, once: new(sync.Once), pool: pool, piece: piece},
		chanStream{in: ab, out: ba, once: new(sync.Once), pool: pool, piece: piece}
}

func (s chanStream) Send(f *api.Frame) error {
	// A real stream marshals the frame: the sender may reuse its bytes.
	s.out <- &api.Frame{Data: bytes.Clone(f.Data), Eof: f.Eof}
	return nil
}

func (s chanStream) RecvMsg(m any) error {
	f, ok := <-s.in
	if !ok {
		return io.EOF
	}
	c := encoding.GetCodecV2("proto")
	wire, err := c.Marshal(f)
	if err != nil {
		return err
	}
	msg := s.pool.slice(wire.Materialize(), -s.piece)
	wire.Free()
	defer msg.Free()
	return c.Unmarshal(msg, m)
}

func (s chanStream) end() { s.once.Do(func() { close(s.out) }) }

func connPair() (a, b *Conn) { return connPairPieces(0) }

func connPairPieces(piece int) (a, b *Conn) {
	sa, sb := streamPair(piece)
	a = newConn(sa, Addr{"a"}, Addr{"b"}, func(bool) { sa.end() })
	b = newConn(sb, Addr{"b"}, Addr{"a"}, func(bool) { sb.end() })
	return a, b
}

// countingPool is a mem.BufferPool that knows which of its buffers are
// out: it panics on a buffer freed twice (or never handed out), and
// overwrites each buffer freed, so that data read after its buffer was
// freed shows as wrong bytes.
type countingPool struct {
	mu  sync.Mutex
	out map[*[]byte]bool
}

func newCountingPool() *countingPool { return &countingPool{out: map[*[]byte]bool{}} }

func (p *countingPool) Get(n int) *[]byte {
	b := make([]byte, n)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out[&b] = true
	return &b
}

func (p *countingPool) Put(b *[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.out[b] {
		panic("countingPool: a buffer freed twice")
	}
	delete(p.out, b)
	for i := range *b {
		(*b)[i] = 0xAA
	}
}

// held is how many buffers are out.
func (p *countingPool) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.out)
}

// slice is wire in buffers from p, cut as splitWire cuts it; pieces too
// small for gRPC to pool are plain slices.
func (p *countingPool) slice(wire []byte, split int) mem.BufferSlice {
	var out mem.BufferSlice
	for _, b := range splitWire(wire, split) {
		if mem.IsBelowBufferPoolingThreshold(b.Len()) {
			out = append(out, mem.SliceBuffer(bytes.Clone(b.ReadOnlyData()))) // as mem.NewBuffer would
			continue
		}
		buf := p.Get(b.Len())
		copy(*buf, b.ReadOnlyData())
		out = append(out, mem.NewBuffer(buf, p))
	}
	return out
}

// onlyReader hides a reader's WriteTo, so that io.Copy takes the writer's
// ReadFrom.
type onlyReader struct{ io.Reader }

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(b []byte) (int, error) { return c.r.Read(b[:min(len(b), c.n)]) }

// TestConnCopyBothWays: io.Copy into a Conn goes through ReadFrom, out of
// one through WriteTo; the bytes and the half-close arrive intact whether
// the source gives a little or a lot per read.
func TestConnCopyBothWays(t *testing.T) {
	data := make([]byte, 1<<20+123)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	for _, chunk := range []int{100, smallRead, maxFrame, 1 << 20} {
		a, b := connPair()
		var got bytes.Buffer
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(&got, b) // b.WriteTo
			done <- err
		}()
		n, err := io.Copy(a, onlyReader{chunkReader{bytes.NewReader(data), chunk}}) // a.ReadFrom
		if err != nil || n != int64(len(data)) {
			t.Fatalf("chunks of %d: copied %d, %v; want %d", chunk, n, err, len(data))
		}
		if err := a.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("chunks of %d: WriteTo: %v", chunk, err)
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("chunks of %d: received %d bytes that differ from the %d sent", chunk, got.Len(), len(data))
		}
		a.Close()
		b.Close()
	}
}

// TestConnWriteToEnds: WriteTo returns the stream's end as Read would: an
// error when the stream broke without an eof frame, net.ErrClosed after
// Close.
func TestConnWriteToEnds(t *testing.T) {
	a, b := connPair()
	a.Write([]byte("partial"))
	a.Close() // not graceful: the stream ends without an eof frame
	var got bytes.Buffer
	if _, err := b.WriteTo(&got); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("WriteTo after the peer vanished: %v, want io.ErrUnexpectedEOF", err)
	}
	if got.String() != "partial" {
		t.Errorf("WriteTo passed on %q, want %q", got.String(), "partial")
	}

	c, d := connPair()
	defer c.Close()
	d.Close()
	if _, err := d.WriteTo(io.Discard); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close: %v, want net.ErrClosed", err)
	}
}

// TestConnFreesBuffersOnce: the buffers a received frame's data stays in
// (inFrame) are freed exactly once, after the data was read, whether it
// is read with Read in pieces that do not line up with the frames or the
// buffers, or passed on by WriteTo (to a plain writer, or to one that takes
// several buffers per call, as stack.Conn does), and whatever the buffers'
// size: the pool panics on a second free and overwrites a freed buffer, so
// a byte read after its buffer was freed arrives wrong.
func TestConnFreesBuffersOnce(t *testing.T) {
	data := make([]byte, 3*maxFrame+77)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	for _, piece := range []int{7, 1000, 16 << 10} {
		for _, how := range []string{"Read", "WriteTo", "WriteTo WriteBuffers"} {
			a, b := connPairPieces(piece)
			go func() {
				a.Write(data)
				a.CloseWrite()
			}()
			var got bytes.Buffer
			var err error
			switch how {
			case "Read":
				_, err = io.CopyBuffer(&got, onlyReader{b}, make([]byte, 333))
			case "WriteTo":
				_, err = b.WriteTo(&got)
			default:
				w := &buffersRecorder{}
				_, err = b.WriteTo(w)
				got.Write(w.Bytes())
				if piece < maxFrame && w.calls == 0 {
					t.Errorf("pieces of %d: WriteBuffers never called", piece)
				}
			}
			if err != nil || !bytes.Equal(got.Bytes(), data) {
				t.Errorf("pieces of %d, %s: %d bytes, %v; want the %d sent", piece, how, got.Len(), err, len(data))
			}
			if n := b.s.(chanStream).pool.held(); n != 0 {
				t.Errorf("pieces of %d, %s: %d buffers not freed", piece, how, n)
			}
			a.Close()
			b.Close()
		}
	}
}

// buffersRecorder is a writer that also takes several buffers per call.
type buffersRecorder struct {
	bytes.Buffer
	calls int
}

func (r *buffersRecorder) WriteBuffers(bufs [][]byte) (int64, error) {
	r.calls++
	var n int64
	for _, b := range bufs {
		k, _ := r.Write(b)
		n += int64(k)
	}
	return n, nil
}

// At a leaf hop the root relays one Conn into another: a received frame,
// in gRPC's 16 KiB buffers, goes on as whole frames of up to maxFrame,
// not as a frame per buffer, and intact.
func TestRelayBetweenConnsKeepsFrames(t *testing.T) {
	data := make([]byte, 3*maxFrame+77)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	a1, b1 := connPairPieces(16 << 10)
	a2, b2 := connPairPieces(16 << 10)
	defer func() {
		for _, c := range []*Conn{a1, b1, a2, b2} {
			c.Close()
		}
	}()
	go func() {
		a1.Write(data)
		a1.CloseWrite()
	}()
	relayed := make(chan error, 1)
	go func() {
		_, err := b1.WriteTo(a2)
		a2.CloseWrite()
		relayed <- err
	}()
	var got []byte
	frames := 0
	for f := range b2.s.(chanStream).in {
		if len(f.Data) > 0 {
			frames++
			got = append(got, f.Data...)
		}
		if f.Eof {
			break
		}
	}
	if err := <-relayed; err != nil {
		t.Fatalf("relay: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("relayed %d bytes, not the %d sent", len(got), len(data))
	}
	if want := (len(data) + maxFrame - 1) / maxFrame; frames != want {
		t.Errorf("relayed in %d data frames, want %d (whole frames)", frames, want)
	}
}
