// Package control lets `vnet status` ask a running `vnet up` what it is
// doing: HTTP with JSON over a Unix socket in VNet's state directory.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// SocketName is the socket's file name inside the state directory.
const SocketName = "vnet.sock"

// ErrNotRunning means no VNet answers on the socket.
var ErrNotRunning = errors.New("VNet is not running (start it with 'sudo vnet up')")

// Server answers status requests until Close.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen serves status() as JSON at GET /status on a Unix socket at path.
// A stale socket left by a VNet that died is replaced; one that a running
// VNet answers on is an error. uid/gid (if >= 0) own the socket, so that
// the user who ran sudo can ask without it.
func Listen(path string, uid, gid int, status func() any) (*Server, error) {
	if _, err := Get(context.Background(), path); err == nil {
		return nil, fmt.Errorf("another VNet is running (it answers on %s)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if uid >= 0 {
		os.Chown(path, uid, gid)
	}
	os.Chmod(path, 0o660)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(status())
	})
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops serving and removes the socket. Idempotent.
func (s *Server) Close() error {
	path := s.ln.Addr().String()
	err := s.srv.Close()
	os.Remove(path)
	return err
}

// Get fetches the raw status JSON from the VNet serving on path.
func Get(ctx context.Context, path string) ([]byte, error) {
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vnet/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNotRunning
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}
