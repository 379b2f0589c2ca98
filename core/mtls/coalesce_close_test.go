package mtls_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/mtls/mtlstest"
)

// stuckConn is a socket whose writes, once stuck is set, block as to a
// peer that stopped reading: until the socket is closed, or a write
// deadline is set (standing for the deadline passing: crypto/tls's Close
// sets one of 5 s before its close_notify). ended tells which ended the
// blocked write.
type stuckConn struct {
	net.Conn
	mu      sync.Mutex
	stuck   bool
	blocked chan struct{} // closed when a write blocks
	unblock chan string   // what ends it: "close" or "deadline"
	ended   string
}

func (c *stuckConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.stuck {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	c.mu.Unlock()
	close(c.blocked)
	why := <-c.unblock
	c.mu.Lock()
	c.ended = why
	c.mu.Unlock()
	if why == "deadline" {
		return 0, os.ErrDeadlineExceeded
	}
	return 0, net.ErrClosed
}

func (c *stuckConn) end(why string) {
	c.mu.Lock()
	stuck := c.stuck
	c.stuck = false
	c.mu.Unlock()
	if stuck {
		c.unblock <- why
	}
}

func (c *stuckConn) SetWriteDeadline(t time.Time) error {
	c.end("deadline")
	return c.Conn.SetWriteDeadline(t)
}

func (c *stuckConn) Close() error {
	c.end("close")
	return c.Conn.Close()
}

// TestCoalescingCloseEndsABlockedWrite: Close while a Write's records are
// blocked in the socket (the peer reads nothing) closes the socket at
// once, as crypto/tls does for a Write of its own in progress; it does
// not send its close_notify behind the blocked records, which waits for
// the 5 s write deadline crypto/tls sets for it (gRPC closes a transport
// whose peer stopped answering this way: a keepalive's timeout).
func TestCoalescingCloseEndsABlockedWrite(t *testing.T) {
	id := mtlstest.SelfSigned(t, "proxy.test:3080", time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(id.CertPEM, id.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer b.Close()
	// No session tickets: net.Pipe has no buffer, and a ticket the
	// client does not read would block the server's handshake.
	srv := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true, NextProtos: []string{"h2"}})
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Handshake() }()
	raw := &stuckConn{Conn: a, blocked: make(chan struct{}), unblock: make(chan string, 1)}
	creds := mtls.Coalescing(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}))
	conn, _, err := creds.ClientHandshake(context.Background(), "proxy.test", raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-srvDone; err != nil {
		t.Fatal(err)
	}

	raw.mu.Lock()
	raw.stuck = true
	raw.mu.Unlock()
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(make([]byte, 64<<10))
		wrote <- err
	}()
	<-raw.blocked
	conn.Close()
	if err := <-wrote; err == nil {
		t.Error("the blocked Write reported no error")
	}
	raw.mu.Lock()
	defer raw.mu.Unlock()
	if raw.ended != "close" {
		t.Errorf("the blocked write was ended by %q, want by closing the socket", raw.ended)
	}
}
