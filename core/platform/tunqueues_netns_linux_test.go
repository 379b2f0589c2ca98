package platform

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"
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
