package relay_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/relay"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestSpliceHalfClose: client → [a | relay | b] → server. The client's
// shutdown(SHUT_WR) reaches the server as EOF, the server still answers,
// and the counts are right.
func TestSpliceHalfClose(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := make(chan relay.Result, 1)
	go func() {
		res, err := relay.Splice(context.Background(), a, b)
		if err != nil {
			t.Errorf("Splice: %v", err)
		}
		done <- res
	}()
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	client.CloseWrite()
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "ping" {
		t.Fatalf("server read %q, %v; want ping then EOF", got, err)
	}
	server.Write([]byte("pong!"))
	server.CloseWrite()
	got, err = io.ReadAll(client)
	if err != nil || string(got) != "pong!" {
		t.Fatalf("client read %q, %v; want pong! then EOF", got, err)
	}
	res := <-done
	if res.AToB != 4 || res.BToA != 5 {
		t.Fatalf("Result = %+v, want 4 and 5", res)
	}
}

// TestSpliceCancel: cancelling ctx ends a relay that would otherwise wait
// forever, reports the cause, and closes both sides.
func TestSpliceCancel(t *testing.T) {
	client, a := tcpPair(t)
	b, _ := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := relay.Splice(ctx, a, b)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Splice = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Splice did not return after cancel")
	}
	client.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read after cancel: %v, want a reset", err)
	}
}
