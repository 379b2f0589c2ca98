package platform

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/stack"
)

// testMultiQueueTUN runs inside the test namespace (TestInsideNetns): a
// TUN with four queues, each starting its packets with a virtio_net_hdr,
// carries flows on every queue; a flow whose packet was written to a queue
// is then read from that queue (the kernel's automq follows writeQueue);
// Close wakes every reader and removes the device.
func testMultiQueueTUN(t *testing.T) {
	const queues, flows = 4, 64
	tun, err := OpenTUN("vnettest1", 1400, queues)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if fds, err := tun.Descriptors(); tun.Queues() != queues || err != nil || len(fds) != queues {
		t.Fatalf("Queues = %d, Descriptors = %v, %v; want %d", tun.Queues(), fds, err, queues)
	}
	dev := tun.Name()
	ip(t, "link", "set", dev, "up")
	ip(t, "addr", "add", "10.98.0.1/32", "dev", dev)
	ip(t, "route", "add", "10.98.0.0/24", "dev", dev)
	dst := netip.MustParseAddr("10.98.0.9")

	// Each reader reports (queue, source port) for every UDP datagram to
	// dst, port 9.
	type seen struct {
		queue int
		port  uint16
	}
	got := make(chan seen, 4*flows)
	ended := make(chan error, queues)
	for q := range queues {
		go func() {
			bufs := [][]byte{make([]byte, virtioNetHdrLen+65535)}
			sizes := []int{0}
			for {
				if _, err := tun.ReadQueue(q, bufs, sizes); err != nil {
					ended <- err
					return
				}
				p := bufs[0][virtioNetHdrLen:sizes[0]]
				if len(p) >= 28 && p[0] == 0x45 && p[9] == 17 && netip.AddrFrom4([4]byte(p[16:20])) == dst && binary.BigEndian.Uint16(p[22:24]) == 9 {
					got <- seen{q, binary.BigEndian.Uint16(p[20:22])}
				}
			}
		}()
	}
	next := func() seen {
		t.Helper()
		select {
		case s := <-got:
			return s
		case <-time.After(waitLimit):
			t.Fatal("a datagram was never read from any queue")
			return seen{}
		}
	}

	// Many flows, one datagram each: the kernel spreads them by hash, and
	// 64 flows miss one of 4 queues with a chance of about 1 in 10^7.
	conns := map[uint16]*net.UDPConn{}
	for range flows {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[uint16(c.LocalAddr().(*net.UDPAddr).Port)] = c
		if _, err := c.Write([]byte("flow")); err != nil {
			t.Fatal(err)
		}
	}
	perQueue := make([]int, queues)
	readOn := map[uint16]int{}
	for range flows {
		s := next()
		perQueue[s.queue]++
		readOn[s.port] = s.queue
	}
	for q, n := range perQueue {
		if n == 0 {
			t.Errorf("queue %d carried none of %d flows (per queue: %v)", q, flows, perQueue)
		}
	}

	// A flow answered on another queue than it was read from moves there.
	moved := false
	for port, q := range readOn {
		reply := append(make([]byte, virtioNetHdrLen), udp4Packet(dst, 9, netip.MustParseAddr("10.98.0.1"), port, []byte("answer"))...)
		w := tun.writeQueue(reply)
		if w == q {
			continue
		}
		if err := tun.WritePackets([][]byte{reply}); err != nil {
			t.Fatal(err)
		}
		c := conns[port]
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := c.Read(make([]byte, 16)); err != nil {
			t.Fatalf("the answer was not delivered: %v", err)
		}
		if _, err := c.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
		if s := next(); s.port != port || s.queue != w {
			t.Errorf("after an answer written to queue %d, the flow from port %d was read from queue %d (port %d)", w, port, s.queue, s.port)
		}
		moved = true
		break
	}
	if !moved {
		t.Errorf("every flow was written to the queue it was read from: writeQueue spreads nothing")
	}

	if err := tun.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range queues {
		select {
		case err := <-ended:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("ReadQueue after Close: %v, want os.ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("a ReadQueue still blocked after Close")
		}
	}
	if out, err := exec.Command("ip", "link", "show", dev).CombinedOutput(); err == nil {
		t.Errorf("device still there after Close: %s", out)
	}
}

// countingTUN counts, per queue, the packets the stack reads from a TUN.
type countingTUN struct {
	*TUN
	read []atomic.Uint64
}

func (c *countingTUN) ReadQueue(q int, bufs [][]byte, sizes []int) (int, error) {
	n, err := c.TUN.ReadQueue(q, bufs, sizes)
	c.read[q].Add(uint64(n))
	return n, err
}

// testMultiQueueStack runs inside the test namespace: VNet's netstack on a
// TUN with four queues, offloads on, ends TCP connections from the kernel
// and echoes them; many connections at once each carry their bytes both
// ways (super-segments included), and the stack reads every queue.
func testMultiQueueStack(t *testing.T) {
	const queues, conns = 4, 32
	tun, err := OpenTUN("vnettest2", 9000, queues)
	if err != nil {
		t.Fatal(err)
	}
	cio := &countingTUN{TUN: tun, read: make([]atomic.Uint64, queues)}
	dev := tun.Name()
	ip(t, "link", "set", dev, "up")
	ip(t, "addr", "add", "10.97.0.1/32", "dev", dev)
	ip(t, "route", "add", "10.97.0.0/24", "dev", dev)
	s, err := stack.New(stack.Config{
		IO:        cio,
		MTU:       9000,
		Addresses: []netip.Addr{netip.MustParseAddr("10.97.0.2")},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		HandleTCP: func(ctx context.Context, req *stack.TCPRequest) {
			c, err := req.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			if _, err := io.Copy(c, c); err == nil {
				c.(interface{ CloseWrite() error }).CloseWrite()
			}
		},
	})
	if err != nil {
		tun.Close()
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run(context.Background()) }()
	defer func() {
		s.Close()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// 256 KiB each way per connection: more than one super-segment.
	msg := bytes.Repeat([]byte("0123456789abcdef"), 16<<10)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp4", fmt.Sprintf("10.97.0.%d:%d", 10+i%8, 7000+i), waitLimit)
			if err != nil {
				t.Errorf("connection %d: %v", i, err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			go func() {
				c.Write(msg)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("connection %d: echoed %d of %d bytes, %v", i, len(got), len(msg), err)
			}
		})
	}
	wg.Wait()
	for q := range queues {
		if cio.read[q].Load() == 0 {
			t.Errorf("the stack read nothing from queue %d of %d", q, queues)
		}
	}
}
