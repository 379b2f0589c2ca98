// Package vnettest has the helpers that tests running VNet in one process
// share: a goroutine leak check, a DNS query over a given connection, and
// polling for something that travels through a watch stream.
package vnettest

import (
	"net"
	"runtime"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// CheckGoroutines fails the test if goroutines started during it are
// still running a while (10 s at most) after it and its cleanups ended.
// Register it first, so that its cleanup runs last.
func CheckGoroutines(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for range 200 {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", before, now, buf[:runtime.Stack(buf, true)])
	})
}

// Query asks the DNS server at the other end of c for name (any case, dot
// or not) and type, and returns its answer; c is used once and not closed.
func Query(t testing.TB, c net.Conn, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	dc := &mdns.Conn{Conn: c}
	if err := dc.WriteMsg(m); err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	resp, err := dc.ReadMsg()
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return resp
}

// Eventually polls cond until it holds, 30 s at most: for changes that
// travel through a watch stream. It asserts nothing about how long that
// takes.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
