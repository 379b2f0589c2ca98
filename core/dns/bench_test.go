package dns_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// benchInFlight is how many queries the benchmark clients keep in flight,
// as dnsperf -q 64 does in scripts/bench.sh.
const benchInFlight = 64

// BenchmarkServeUDP fires queries over UDP on loopback, benchInFlight at a
// time, and reports queries per second for:
//
//   - upstream: the test upstream answering directly, the baseline (what
//     dnsmasq answering a local record is in scripts/bench.sh);
//   - app: a Server answering a name its Resolver owns;
//   - forwarded: a Server forwarding to that upstream through a Forwarder
//     behind a RebindGuard, as the engine wires it.
//
// Compare app and forwarded with upstream from the same run:
//
//	go test -run '^$' -bench ServeUDP -benchtime 100000x ./core/dns
//
// and add -cpuprofile to see where the time goes.
func BenchmarkServeUDP(b *testing.B) {
	up := startFastUpstream(b)
	b.Run("upstream", func(b *testing.B) {
		fireQueries(b, up.String(), "only-upstream.test.")
	})
	b.Run("app", func(b *testing.B) {
		addr := startBenchServer(b, up)
		fireQueries(b, addr, "tcp-app.company.test.")
	})
	b.Run("forwarded", func(b *testing.B) {
		addr := startBenchServer(b, up)
		fireQueries(b, addr, "only-upstream.test.")
	})
}

// benchResolver owns tcp-app.company.test, without recording calls as
// dnstest.Resolver does.
type benchResolver struct{}

func (benchResolver) Resolve(_ context.Context, name string, _ uint16) (dns.Answer, bool) {
	if name != "tcp-app.company.test" {
		return dns.Answer{}, false
	}
	return dns.Answer{Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.5")}, TTL: 10}, true
}

// startBenchServer runs a Server on loopback UDP that forwards to up and
// returns its address.
func startBenchServer(b *testing.B, up netip.AddrPort) string {
	b.Helper()
	fwd, err := dns.NewForwarder([]netip.AddrPort{up}, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fwd.Close() })
	guarded := dns.NewRebindGuard(fwd, func(a netip.Addr) bool {
		return netip.MustParsePrefix("100.64.0.0/10").Contains(a)
	}, nil)
	srv, err := dns.NewServer(dns.Config{Resolver: benchResolver{}, Upstream: guarded, MaxInFlight: 4 * benchInFlight})
	if err != nil {
		b.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeUDP(context.Background(), pc) }()
	b.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			b.Errorf("ServeUDP = %v", err)
		}
	})
	return pc.LocalAddr().String()
}

// startFastUpstream is a DNS server on loopback UDP that answers every
// question with one A record, built by hand so that the baseline is as
// cheap as a server can be: it is not what is measured.
func startFastUpstream(b *testing.B) netip.AddrPort {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := fastAnswer(buf[:n]); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// fastAnswer turns the query in pkt into an answer in place: QR and RA
// set, one A record 192.0.2.50 pointing at the question, any OPT echoed.
func fastAnswer(pkt []byte) []byte {
	if len(pkt) < 12 || binary.BigEndian.Uint16(pkt[4:]) != 1 {
		return nil
	}
	end := 12
	for end < len(pkt) && pkt[end] != 0 {
		end += int(pkt[end]) + 1
	}
	end += 5 // root label, type, class
	if end > len(pkt) {
		return nil
	}
	extra := append([]byte(nil), pkt[end:]...) // the OPT, if any
	out := append(pkt[:end:end], 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 50)
	out = append(out, extra...)
	out[2] |= 0x80                         // QR
	out[3] = 0x80                          // RA, NOERROR
	binary.BigEndian.PutUint16(out[6:], 1) // ANCOUNT
	return out
}

// cpuTime is the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fireQueries sends b.N A queries for name to addr, benchInFlight at a
// time from as many sockets, and reports queries/s.
func fireQueries(b *testing.B, addr, name string) {
	fireQueriesWith(b, func() (net.Conn, error) { return net.Dial("udp", addr) }, name)
}

// fireQueriesWith is fireQueries with sockets from dial.
func fireQueriesWith(b *testing.B, dial func() (net.Conn, error), name string) {
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeA)
	wire, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	var (
		next     atomic.Int64
		timeouts atomic.Int64
		wg       sync.WaitGroup
	)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	for range benchInFlight {
		c, err := dial()
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			pkt := append([]byte(nil), wire...)
			buf := make([]byte, 1500)
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				id := uint16(n)
				binary.BigEndian.PutUint16(pkt, id)
				c.Write(pkt)
				for {
					// A lost query costs a second: dnsperf too waits for
					// its timeout.
					c.SetReadDeadline(time.Now().Add(time.Second))
					n, err := c.Read(buf)
					if err != nil {
						var ne net.Error
						if errors.As(err, &ne) && ne.Timeout() {
							timeouts.Add(1)
						}
						break
					}
					if n >= 2 && binary.BigEndian.Uint16(buf) == id {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "q/s")
	// CPU time of the whole process (clients and upstream included) per
	// query: unlike q/s it holds when other processes load the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/q")
	b.ReportMetric(float64(timeouts.Load()), "lost")
}
