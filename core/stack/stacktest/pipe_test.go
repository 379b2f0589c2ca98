package stacktest

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/stack"
)

// waitLong bounds waits that only a bug would make long.
const waitLong = 20 * time.Second

func newBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

func TestPipeDelivers(t *testing.T) {
	tests := []struct {
		name    string
		write   [][]byte
		bufs    int
		bufSize int
		want    [][]byte // what one ReadPackets returns
	}{
		{
			name:    "one packet",
			write:   [][]byte{[]byte("hello")},
			bufs:    4,
			bufSize: 64,
			want:    [][]byte{[]byte("hello")},
		},
		{
			name:    "batch in order",
			write:   [][]byte{[]byte("1"), []byte("22"), []byte("333")},
			bufs:    4,
			bufSize: 64,
			want:    [][]byte{[]byte("1"), []byte("22"), []byte("333")},
		},
		{
			name:    "batch limited by buffers",
			write:   [][]byte{[]byte("1"), []byte("22"), []byte("333")},
			bufs:    2,
			bufSize: 64,
			want:    [][]byte{[]byte("1"), []byte("22")},
		},
		{
			name:    "long packet truncated",
			write:   [][]byte{[]byte("0123456789")},
			bufs:    1,
			bufSize: 4,
			want:    [][]byte{[]byte("0123")},
		},
		{
			name:    "empty packet",
			write:   [][]byte{{}},
			bufs:    1,
			bufSize: 4,
			want:    [][]byte{{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Pipe(8)
			defer a.Close()
			if err := a.WritePackets(tt.write); err != nil {
				t.Fatalf("WritePackets: %v", err)
			}
			// The writer may reuse its slices at once.
			for _, p := range tt.write {
				for i := range p {
					p[i] = 'x'
				}
			}
			bufs, sizes := newBufs(tt.bufs, tt.bufSize)
			n, err := b.ReadPackets(bufs, sizes)
			if err != nil {
				t.Fatalf("ReadPackets: %v", err)
			}
			if n != len(tt.want) {
				t.Fatalf("ReadPackets read %d packets, want %d", n, len(tt.want))
			}
			for i, w := range tt.want {
				if got := bufs[i][:sizes[i]]; !bytes.Equal(got, w) {
					t.Errorf("packet %d = %q, want %q", i, got, w)
				}
			}
		})
	}
}

func TestPipeBothDirections(t *testing.T) {
	a, b := Pipe(1)
	defer a.Close()
	bufs, sizes := newBufs(1, 16)
	for _, dir := range []struct {
		name     string
		from, to stack.PacketIO
	}{{"a to b", a, b}, {"b to a", b, a}} {
		if err := dir.from.WritePackets([][]byte{[]byte(dir.name)}); err != nil {
			t.Fatalf("%s: WritePackets: %v", dir.name, err)
		}
		n, err := dir.to.ReadPackets(bufs, sizes)
		if err != nil || n != 1 || string(bufs[0][:sizes[0]]) != dir.name {
			t.Fatalf("%s: ReadPackets = %d, %q, %v", dir.name, n, bufs[0][:sizes[0]], err)
		}
	}
}

func TestPipeCloseUnblocks(t *testing.T) {
	tests := []struct {
		name  string
		close func(a, b stack.PacketIO)
		// block runs the call Close must end; it is started before Close.
		block func(a, b stack.PacketIO) error
	}{
		{
			name:  "read on the other end",
			close: func(a, b stack.PacketIO) { a.Close() },
			block: func(a, b stack.PacketIO) error {
				bufs, sizes := newBufs(1, 16)
				_, err := b.ReadPackets(bufs, sizes)
				return err
			},
		},
		{
			name:  "read on the same end",
			close: func(a, b stack.PacketIO) { b.Close() },
			block: func(a, b stack.PacketIO) error {
				bufs, sizes := newBufs(1, 16)
				_, err := b.ReadPackets(bufs, sizes)
				return err
			},
		},
		{
			name:  "write to a full pipe",
			close: func(a, b stack.PacketIO) { b.Close() },
			block: func(a, b stack.PacketIO) error {
				// The buffer holds one packet; the second write blocks.
				return a.WritePackets([][]byte{[]byte("1"), []byte("2")})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Pipe(1)
			errc := make(chan error, 1)
			go func() { errc <- tt.block(a, b) }()
			tt.close(a, b)
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("got %v, want net.ErrClosed", err)
				}
			case <-time.After(waitLong):
				t.Fatal("Close did not unblock the call")
			}
			// Once closed, everything fails, on both ends.
			bufs, sizes := newBufs(1, 16)
			for _, e := range []struct {
				name string
				err  error
			}{
				{"a write", a.WritePackets([][]byte{[]byte("x")})},
				{"b write", b.WritePackets([][]byte{[]byte("x")})},
				{"a read", func() error { _, err := a.ReadPackets(bufs, sizes); return err }()},
				{"b read", func() error { _, err := b.ReadPackets(bufs, sizes); return err }()},
			} {
				if !errors.Is(e.err, net.ErrClosed) {
					t.Errorf("%s after Close: %v, want net.ErrClosed", e.name, e.err)
				}
			}
			if err := a.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}
