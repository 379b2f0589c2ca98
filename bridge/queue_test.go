package main

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

func newBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

func TestQueueInjectCopiesAndDrops(t *testing.T) {
	q := newPacketQueue(100, func([][]byte) error { return nil })
	a, b := []byte{0x45, 1, 2}, []byte{0x60, 3}
	pkts := [][]byte{a, {}, bytes.Repeat([]byte{1}, 101), b, bytes.Repeat([]byte{2}, 100)}
	if err := q.inject(pkts); err != nil {
		t.Fatal(err)
	}
	a[1], b[1] = 99, 99 // the caller reuses its buffers at once
	bufs, sizes := newBufs(8, 100)
	n, err := q.ReadPackets(bufs, sizes)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]byte, n)
	for i := range n {
		got[i] = bufs[i][:sizes[i]]
	}
	want := [][]byte{{0x45, 1, 2}, {0x60, 3}, bytes.Repeat([]byte{2}, 100)}
	if n != len(want) {
		t.Fatalf("read %d packets, want %d", n, len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("packet %d: %v, want %v", i, got[i], want[i])
		}
	}
	if c := q.counts(); c.Injected != 3 || c.InjectDropped != 2 || c.Queued != 0 {
		t.Errorf("counts %+v, want 3 injected, 2 dropped (empty, over the MTU)", c)
	}
}

func TestQueueReadTakesAtMostItsBuffers(t *testing.T) {
	q := newPacketQueue(10, func([][]byte) error { return nil })
	for i := range 5 {
		q.inject([][]byte{{byte(i)}})
	}
	bufs, sizes := newBufs(2, 10)
	for _, want := range [][]byte{{0, 1}, {2, 3}, {4}} {
		n, err := q.ReadPackets(bufs, sizes)
		if err != nil || n != len(want) {
			t.Fatalf("read %d, %v; want %d", n, err, len(want))
		}
		for i := range n {
			if sizes[i] != 1 || bufs[i][0] != want[i] {
				t.Errorf("got %v, want %d", bufs[i][:sizes[i]], want[i])
			}
		}
	}
}

// A full queue makes the injector wait (back-pressure) until the netstack
// reads; nothing is lost.
func TestQueueBackPressure(t *testing.T) {
	q := newPacketQueue(10, func([][]byte) error { return nil })
	full := make([][]byte, queueLen)
	for i := range full {
		full[i] = []byte{1}
	}
	if err := q.inject(full); err != nil {
		t.Fatal(err)
	}
	injected := make(chan error)
	go func() { injected <- q.inject([][]byte{{2}}) }()
	select {
	case err := <-injected:
		t.Fatalf("inject into a full queue returned at once: %v", err)
	case <-time.After(50 * time.Millisecond): // waiting, as it should
	}
	bufs, sizes := newBufs(1, 10)
	if _, err := q.ReadPackets(bufs, sizes); err != nil {
		t.Fatal(err)
	}
	if err := <-injected; err != nil {
		t.Fatal(err)
	}
	if c := q.counts(); c.Injected != queueLen+1 || c.InjectDropped != 0 || c.Queued != queueLen {
		t.Errorf("counts %+v", c)
	}
}

func TestQueueCloseWakesEveryone(t *testing.T) {
	q := newPacketQueue(10, func([][]byte) error { return nil })
	full := make([][]byte, queueLen)
	for i := range full {
		full[i] = []byte{1}
	}
	q.inject(full)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- q.inject([][]byte{{2}}) })
	empty := newPacketQueue(10, func([][]byte) error { return nil })
	wg.Go(func() {
		bufs, sizes := newBufs(1, 10)
		_, err := empty.ReadPackets(bufs, sizes)
		errs <- err
	})
	q.Close()
	empty.Close()
	q.Close() // idempotent
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, errQueueClosed) {
			t.Errorf("after Close: %v, want errQueueClosed", err)
		}
	}
	if err := q.WritePackets([][]byte{{0x45}}); err == nil {
		t.Error("write after Close succeeded")
	}
}

func TestQueueWritePackets(t *testing.T) {
	var got [][]byte
	fail := false
	q := newPacketQueue(10, func(p [][]byte) error {
		if fail {
			return errors.New("OS said no")
		}
		got = append(got, p...)
		return nil
	})
	if err := q.WritePackets([][]byte{{1}, {2}}); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := q.WritePackets([][]byte{{3}}); err == nil {
		t.Error("the host's error was lost")
	}
	if c := q.counts(); len(got) != 2 || c.Written != 2 || c.WriteErrors != 1 {
		t.Errorf("wrote %v, counts %+v", got, c)
	}
}

func TestQueueReadNeedsBuffers(t *testing.T) {
	q := newPacketQueue(10, func([][]byte) error { return nil })
	if _, err := q.ReadPackets(nil, nil); err == nil {
		t.Error("read without buffers succeeded")
	}
	bufs, _ := newBufs(2, 10)
	if _, err := q.ReadPackets(bufs, make([]int, 1)); err == nil {
		t.Error("read with too few sizes succeeded")
	}
}
