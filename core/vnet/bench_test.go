package vnet_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/testkit"
)

// benchWorld is a system world with a sink app and an echo app.
func benchWorld(b *testing.B) (w *world, sink, echo string) {
	sink, echo = clustertest.SinkServer(b), clustertest.EchoServer(b)
	c := clustertest.Start(b, "root.test", "proxy.root.test",
		clustertest.App{Name: "sink", URI: "tcp://" + sink, PublicAddr: "sink.company.test"},
		clustertest.App{Name: "echo", URI: "tcp://" + echo, PublicAddr: "echo.company.test"},
	)
	clustertest.CreateResource(b, c.Admin(b), vnetConfig("", "company.test"))
	return startVNet(b, c.AddUser(b, "alice", "dev")), sink, echo
}

// push writes size bytes to c, half-closes and waits for the sink's byte.
func push(b *testing.B, c net.Conn, size int) {
	b.Helper()
	defer c.Close()
	buf := make([]byte, 64<<10)
	for left := size; left > 0; left -= len(buf) {
		if _, err := c.Write(buf[:min(len(buf), left)]); err != nil {
			b.Fatal(err)
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSystemThroughput sends one connection's bytes through the whole
// path (host netstack, VNet's netstack, the gRPC tunnel over TLS, the proxy,
// a kernel socket to the app) and, as the baseline in the same run, straight
// to the same app over loopback. Both rates are reported.
func BenchmarkSystemThroughput(b *testing.B) {
	const size = 64 << 20
	w, sink, _ := benchWorld(b)
	ip := w.resolve(b, "sink.company.test")
	var vnetTime, directTime time.Duration
	for range b.N {
		start := time.Now()
		c, err := w.host.DialTCP(context.Background(), hostAddr, netip.AddrPortFrom(ip, 80))
		if err != nil {
			b.Fatal(err)
		}
		push(b, c, size)
		vnetTime += time.Since(start)

		start = time.Now()
		d, err := net.Dial("tcp", sink)
		if err != nil {
			b.Fatal(err)
		}
		push(b, d, size)
		directTime += time.Since(start)
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/vnetTime.Seconds(), "MB/s")
	b.ReportMetric(mb/directTime.Seconds(), "baseline-MB/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSystemConnect measures a new connection through VNet (SYN, tunnel
// stream, proxy dial, handshake completed) up to the first echoed byte,
// next to the same over loopback.
func BenchmarkSystemConnect(b *testing.B) {
	w, _, echo := benchWorld(b)
	ip := w.resolve(b, "echo.company.test")
	roundTrip := func(c net.Conn) {
		defer c.Close()
		if _, err := c.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
	}
	var vnetTime, directTime, vnetCPU, directCPU time.Duration
	for range b.N {
		start, cpu0 := time.Now(), testkit.ProcessCPU(b)
		c, err := w.host.DialTCP(context.Background(), hostAddr, netip.AddrPortFrom(ip, 80))
		if err != nil {
			b.Fatal(err)
		}
		roundTrip(c)
		vnetTime += time.Since(start)
		vnetCPU += testkit.ProcessCPU(b) - cpu0

		start, cpu0 = time.Now(), testkit.ProcessCPU(b)
		d, err := net.Dial("tcp", echo)
		if err != nil {
			b.Fatal(err)
		}
		roundTrip(d)
		directTime += time.Since(start)
		directCPU += testkit.ProcessCPU(b) - cpu0
	}
	b.ReportMetric(float64(vnetTime.Microseconds())/float64(b.N), "µs/conn")
	b.ReportMetric(float64(directTime.Microseconds())/float64(b.N), "baseline-µs/conn")
	// The process's CPU per connection (netstacks, tunnel, proxy, echo app
	// and what each left running, such as the audit's writes): what a
	// lever saves, steadier than the time on a busy machine.
	b.ReportMetric(float64(vnetCPU.Microseconds())/float64(b.N), "cpu-µs/conn")
	b.ReportMetric(float64(directCPU.Microseconds())/float64(b.N), "baseline-cpu-µs/conn")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSystemRoundTrip measures small requests on one open connection
// (64 bytes to the echo app and back, as a database or cache client's
// query), next to the same over loopback. Besides the time per round trip
// it reports the process's CPU per round trip (netstacks, tunnel, proxy
// and app together), which a busy machine disturbs less than the time.
func BenchmarkSystemRoundTrip(b *testing.B) {
	w, _, echo := benchWorld(b)
	ip := w.resolve(b, "echo.company.test")
	c, err := w.host.DialTCP(context.Background(), hostAddr, netip.AddrPortFrom(ip, 80))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	d, err := net.Dial("tcp", echo)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	msg, back := make([]byte, 64), make([]byte, 64)
	run := func(c net.Conn) (wall, cpu time.Duration) {
		start, cpu0 := time.Now(), testkit.ProcessCPU(b)
		for range b.N {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, back); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start), testkit.ProcessCPU(b) - cpu0
	}
	b.ResetTimer()
	vnetWall, vnetCPU := run(c)
	directWall, directCPU := run(d)
	n := float64(b.N)
	b.ReportMetric(float64(vnetWall.Nanoseconds())/1e3/n, "µs/rt")
	b.ReportMetric(float64(vnetCPU.Nanoseconds())/1e3/n, "cpu-µs/rt")
	b.ReportMetric(float64(directWall.Nanoseconds())/1e3/n, "baseline-µs/rt")
	b.ReportMetric(float64(directCPU.Nanoseconds())/1e3/n, "baseline-cpu-µs/rt")
	b.ReportMetric(0, "ns/op")
}
