package dns_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/testkit"
)

// waitTimeout bounds every wait in these tests. It is generous on purpose:
// it only turns a hang into a failure, it measures nothing.
const waitTimeout = 20 * time.Second

// The waits and the leak check every test here uses (core/testkit).
var (
	eventually      = testkit.Eventually
	checkGoroutines = testkit.CheckGoroutines
)

// served is a Server running ServeUDP and ServeTCP on loopback.
type served struct {
	*fixture
	udpAddr, tcpAddr string
	cancel           context.CancelFunc
	udpDone, tcpDone chan error
}

// serve starts f's server on fresh loopback sockets. Cleanup closes the
// server and checks that both Serve calls returned nil and left no
// goroutine behind.
func serve(t *testing.T, cfg dns.Config) *served {
	t.Helper()
	checkGoroutines(t) // registered first, so it runs after the cleanups below
	f := newFixture(t, cfg)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{
		fixture: f,
		udpAddr: pc.LocalAddr().String(),
		tcpAddr: l.Addr().String(),
		cancel:  cancel,
		udpDone: make(chan error, 1),
		tcpDone: make(chan error, 1),
	}
	go func() { s.udpDone <- f.srv.ServeUDP(ctx, pc) }()
	go func() { s.tcpDone <- f.srv.ServeTCP(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		f.srv.Close()
		for name, ch := range map[string]chan error{"ServeUDP": s.udpDone, "ServeTCP": s.tcpDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Errorf("%s returned %v, want nil", name, err)
				}
				ch <- err // for tests that look again
			case <-time.After(waitTimeout):
				t.Errorf("%s did not return after Close", name)
			}
		}
	})
	return s
}
