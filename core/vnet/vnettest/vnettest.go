// Package vnettest has what tests running VNet in one process share
// beyond core/testkit: a DNS query over a given connection.
package vnettest

import (
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

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
