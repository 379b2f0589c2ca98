package main

import (
	"bytes"
	"math"
	"testing"
	"unsafe"
)

// A buffer length from C is a size_t: SIZE_MAX or 2^63 must neither panic
// (converted to a negative int, they did in unsafe.Slice) nor write more
// than the text and its NUL.
func TestCopyOutLengths(t *testing.T) {
	data := []byte("hello")
	for _, tc := range []struct {
		bufLen uint64
		want   string // what the buffer holds up to and with the NUL
	}{
		{math.MaxUint64, "hello\x00"},
		{1 << 63, "hello\x00"},
		{1<<63 + 1, "hello\x00"},
		{1 << 32, "hello\x00"},
		{6, "hello\x00"},
		{5, "hell\x00"},
		{1, "\x00"},
	} {
		buf := bytes.Repeat([]byte{'x'}, 16)
		copyOut(unsafe.Pointer(&buf[0]), tc.bufLen, data)
		if got := string(buf[:len(tc.want)]); got != tc.want || buf[len(tc.want)] != 'x' {
			t.Errorf("bufLen %d: buffer %q, want %q and nothing written after it", tc.bufLen, buf, tc.want)
		}
	}
	copyOut(nil, math.MaxUint64, data) // NULL: nothing, no panic
	buf := []byte{'x'}
	if copyOut(unsafe.Pointer(&buf[0]), 0, data); buf[0] != 'x' {
		t.Error("bufLen 0 wrote")
	}
}

func TestCText(t *testing.T) {
	if got := cText("profile_dir \"/a\x00b\": invalid argument"); got != `profile_dir "/a\0b": invalid argument` {
		t.Errorf("cText = %q", got)
	}
	if got := oneLine(errString("a\x00b\nc")); got != `a\0b c` {
		t.Errorf("oneLine = %q, want the NUL written out and one line", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// The text that did not fit is the text the retry gets, made once.
func TestMeasured(t *testing.T) {
	var m measured
	made := 0
	fresh := func() []byte { made++; return bytes.Repeat([]byte{'a'}, 10+made) } // grows at every call
	first := m.text(room(0), fresh)                                              // only asks the length
	if len(first) != 11 || made != 1 {
		t.Fatalf("first text %q, made %d", first, made)
	}
	if got := m.text(room(uint64(len(first))+1), fresh); !bytes.Equal(got, first) || made != 1 {
		t.Errorf("retry got %q (made %d), want the measured %q, made once", got, made, first)
	}
	if got := m.text(room(64), fresh); len(got) != 12 || made != 2 {
		t.Errorf("after the retry: %q (made %d), want a fresh text", got, made)
	}
	// A retry with a buffer still too small measures afresh; the next
	// retry gets that text.
	small := m.text(room(4), fresh)
	if got := m.text(room(uint64(len(small))+1), fresh); !bytes.Equal(got, small) {
		t.Errorf("second retry %q, want %q", got, small)
	}
}

// injectFrom reads the arrays of vnet_inject: lengths are compared as
// size_t with the MTU (SIZE_MAX and 2^63 became negative ints and made
// unsafe.Slice panic), counts above injectMax are refused, and a call of
// injectMax packets goes through in chunks.
func TestInjectFromLengths(t *testing.T) {
	q := newPacketQueue(100, func([][]byte) error { return nil })
	pkt := bytes.Repeat([]byte{0x45}, 20)
	p := unsafe.Pointer(&pkt[0])
	pkts := []unsafe.Pointer{p, p, nil, p, p}
	lens := []uintptr{math.MaxUint64, 1 << 63, 20, 101, 20} // 101: over the MTU; read, it would straddle pkt (checkptr)
	if err := injectFrom(q, unsafe.Pointer(&pkts[0]), unsafe.Pointer(&lens[0]), uint64(len(pkts))); err != nil {
		t.Fatal(err)
	}
	if c := q.counts(); c.Injected != 1 || c.InjectDropped != 4 {
		t.Errorf("counts %+v, want 1 injected, 4 dropped (SIZE_MAX, 2^63, NULL, over the MTU)", c)
	}
	for _, n := range []uint64{math.MaxUint64, 1 << 63, injectMax + 1} {
		if err := injectFrom(q, unsafe.Pointer(&pkts[0]), unsafe.Pointer(&lens[0]), n); err != errInjectCount {
			t.Errorf("%d packets: %v, want %v", n, err, errInjectCount)
		}
	}
	nils := make([]unsafe.Pointer, injectMax)
	zeros := make([]uintptr, injectMax)
	if err := injectFrom(q, unsafe.Pointer(&nils[0]), unsafe.Pointer(&zeros[0]), injectMax); err != nil {
		t.Fatal(err)
	}
	if c := q.counts(); c.InjectDropped != 4+injectMax {
		t.Errorf("dropped %d, want %d", c.InjectDropped, 4+injectMax)
	}
}
