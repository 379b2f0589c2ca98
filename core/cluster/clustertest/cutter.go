package clustertest

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// Cutter is a TCP forwarder on loopback in front of a proxy: an agent or
// client that dials it can be cut off without a goodbye, as if its process
// was killed or its network failed, and let back in.
type Cutter struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener          // nil while cut; guarded by mu
	conns map[net.Conn]struct{} // guarded by mu
	wg    sync.WaitGroup
}

// NewCutter forwards a loopback port to target until the test ends.
func NewCutter(t testing.TB, target string) *Cutter {
	t.Helper()
	c := &Cutter{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	t.Cleanup(func() {
		c.Cut()
		c.wg.Wait()
	})
	return c
}

// Addr is where to dial instead of the target.
func (c *Cutter) Addr() string { return c.addr }

// Cut closes the listener and every forwarded connection.
func (c *Cutter) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		c.ln.Close()
		c.ln = nil
	}
	for conn := range c.conns {
		conn.Close()
		delete(c.conns, conn)
	}
}

// Restore listens again on the same address.
func (c *Cutter) Restore() {
	c.t.Helper()
	var ln net.Listener
	var err error
	// The port was just released; binding it again may need a moment.
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("cutter: listen again on %s: %v", c.addr, err)
	}
	c.serve(ln)
}

func (c *Cutter) serve(ln net.Listener) {
	c.mu.Lock()
	c.ln = ln
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", c.target)
			if err != nil {
				in.Close()
				continue
			}
			if !c.track(in, out) {
				return
			}
			c.wg.Add(2)
			go c.pipe(in, out)
			go c.pipe(out, in)
		}
	}()
}

// track records a forwarded pair, or closes it if the cutter was cut
// meanwhile.
func (c *Cutter) track(in, out net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln == nil {
		in.Close()
		out.Close()
		return false
	}
	c.conns[in], c.conns[out] = struct{}{}, struct{}{}
	return true
}

func (c *Cutter) pipe(dst, src net.Conn) {
	defer c.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Logger is the logger test clusters use: warnings and errors only.
func Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
