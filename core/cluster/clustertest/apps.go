package clustertest

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// serveTCP runs handle for every connection to a fresh loopback listener
// until the test ends, and returns the listener's address.
func serveTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

// EchoServer is a TCP app on loopback that echoes what it reads and, after
// the client's EOF, writes "bye" and closes: so tests can see half-close
// pass through.
func EchoServer(t testing.TB) string {
	return serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				c.Write([]byte("bye"))
				return
			}
		}
	})
}

// FirehoseServer is a TCP app on loopback that writes to every client as
// fast as the connection takes it; written counts the bytes it managed to
// hand to the kernel, so tests can see back-pressure reach it.
func FirehoseServer(t testing.TB) (addr string, written *atomic.Int64) {
	written = new(atomic.Int64)
	buf := make([]byte, 64<<10)
	return serveTCP(t, func(c net.Conn) {
		for {
			n, err := c.Write(buf)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}), written
}

// SinkServer is a TCP app on loopback that reads each connection to EOF,
// then answers one byte and closes: the far end of throughput benchmarks.
func SinkServer(t testing.TB) string {
	return serveTCP(t, func(c net.Conn) {
		if _, err := io.Copy(io.Discard, c); err == nil {
			c.Write([]byte{'k'})
		}
	})
}
