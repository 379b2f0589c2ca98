package tunnel

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/vnetproject/vnet/core/api"
)

// chanStream is one end of an in-memory stream: frames sent on one end are
// received, in order, on the other. Closing an end ends the other's Recv
// with io.EOF once the frames sent before have been received.
type chanStream struct {
	in, out chan *api.Frame
	once    *sync.Once
}

func streamPair() (a, b chanStream) {
	ab, ba := make(chan *api.Frame, 16), make(chan *api.Frame, 16)
	return chanStream{in: ba, out: ab, once: new(sync.Once)}, chanStream{in: ab, out: ba, once: new(sync.Once)}
}

func (s chanStream) Send(f *api.Frame) error {
	// A real stream marshals the frame: the sender may reuse its bytes.
	s.out <- &api.Frame{Data: bytes.Clone(f.Data), Eof: f.Eof}
	return nil
}

func (s chanStream) Recv() (*api.Frame, error) {
	f, ok := <-s.in
	if !ok {
		return nil, io.EOF
	}
	return f, nil
}

func (s chanStream) end() { s.once.Do(func() { close(s.out) }) }

func connPair() (a, b *Conn) {
	sa, sb := streamPair()
	a = newConn(sa, Addr{"a"}, Addr{"b"}, func(bool) { sa.end() })
	b = newConn(sb, Addr{"b"}, Addr{"a"}, func(bool) { sb.end() })
	return a, b
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
