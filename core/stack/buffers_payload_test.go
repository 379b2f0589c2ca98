package stack

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// TestBuffersPayloadLeavesBufs: reading the payload in pieces gives the
// buffers' bytes in order and leaves the caller's slice untouched, so
// WriteBuffers can go on from the count gVisor kept.
func TestBuffersPayloadLeavesBufs(t *testing.T) {
	bufs := [][]byte{[]byte("abc"), {}, []byte("defgh"), []byte("i")}
	orig := make([][]byte, len(bufs))
	for i, b := range bufs {
		orig[i] = b[:len(b):len(b)]
	}
	p := &buffersPayload{bufs: bufs, left: 9}
	var got bytes.Buffer
	piece := make([]byte, 2)
	for {
		n, err := p.Read(piece)
		got.Write(piece[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got.String() != "abcdefghi" {
		t.Errorf("read %q, want abcdefghi", got.String())
	}
	for i := range bufs {
		if !slices.Equal(bufs[i], orig[i]) || len(bufs[i]) != len(orig[i]) {
			t.Errorf("bufs[%d] = %q after the reads, want %q", i, bufs[i], orig[i])
		}
	}
}
