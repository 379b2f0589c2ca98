package stack_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/stack"
)

// sinkConn reads c to EOF, then answers one byte so the sender knows
// everything arrived, and closes.
func sinkConn(c net.Conn) {
	defer c.Close()
	if _, err := io.Copy(io.Discard, c); err == nil {
		c.Write([]byte{'k'})
	}
}

// sendAll writes size bytes of buf (repeated) to c, half-closes and waits
// for the sink's answer.
func sendAll(tb testing.TB, c net.Conn, buf []byte, size int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	for left := size; left > 0; left -= len(buf) {
		if _, err := c.Write(buf[:min(len(buf), left)]); err != nil {
			tb.Fatalf("write: %v", err)
		}
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		tb.Fatalf("CloseWrite: %v", err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		tb.Fatalf("read answer: %v", err)
	}
}

// BenchmarkTCPThroughput sends one connection's worth of bytes from the host
// stack through the VNet stack to a HandleTCP sink, and the same bytes over a
// kernel loopback socket as the baseline, in the same run. It reports both
// rates; the ratio is the netstack's cost.
func BenchmarkTCPThroughput(b *testing.B) {
	const size = 32 << 20
	p := newPair(b, func(ctx context.Context, req *stack.TCPRequest) {
		c, err := req.Accept()
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		sinkConn(c)
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { sinkConn(c) })
		}
	})

	buf := make([]byte, 128<<10)
	rand.NewChaCha8([32]byte{1}).Read(buf)
	dst := netip.MustParseAddrPort("100.64.1.7:5201")
	ctx := ctxTimeout(b)

	var viaStack, baseline time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		c, err := p.host.DialTCP(ctx, netip.Addr{}, dst)
		if err != nil {
			b.Fatalf("DialTCP: %v", err)
		}
		sendAll(b, c, buf, size)
		viaStack += time.Since(start)

		start = time.Now()
		c, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatalf("dial loopback: %v", err)
		}
		sendAll(b, c, buf, size)
		baseline += time.Since(start)
		n++
	}
	mb := float64(size) * float64(n) / 1e6
	b.ReportMetric(mb/viaStack.Seconds(), "MB/s")
	b.ReportMetric(mb/baseline.Seconds(), "baseline-MB/s")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(p.host.Stats().DroppedOut+p.vnet.Stats().DroppedOut)/float64(n), "drops/op")
}
