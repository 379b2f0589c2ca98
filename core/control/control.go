// Package control lets `vnet status` and `vnet diag` ask a running `vnet
// up` what it is doing: HTTP with JSON over a Unix socket in VNet's state
// directory.
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
	"strings"
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

// Handlers answer the socket's requests; each returns a value sent as JSON.
type Handlers struct {
	Status func() any                    // GET /status
	Diag   func(ctx context.Context) any // GET /diag
}

// Listen serves h as JSON on a Unix socket at path (see Socket).
func Listen(path string, uid, gid int, h Handlers) (*Server, error) {
	ln, err := Socket(path, uid, gid)
	if err != nil {
		return nil, err
	}
	return Serve(ln, h), nil
}

// Socket makes the control socket at path. A stale socket left by a VNet
// that died is replaced; one that a running VNet answers on is an error.
// uid/gid (if >= 0) own the socket, so that the user who ran sudo can ask
// without it.
func Socket(path string, uid, gid int) (net.Listener, error) {
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
	return ln, nil
}

// Serve serves h on ln, made by Socket, perhaps in another process: `sudo
// vnet up` makes the socket as root and hands it to the engine, which runs
// as the user. Close closes ln and removes its socket.
func Serve(ln net.Listener, h Handlers) *Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, h.Status())
	})
	mux.HandleFunc("GET /diag", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, h.Diag(r.Context()))
	})
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(ln)
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Close stops serving and removes the socket. Idempotent.
func (s *Server) Close() error {
	path := s.ln.Addr().String()
	err := s.srv.Close()
	os.Remove(path)
	return err
}

// Get fetches the raw status JSON from the VNet serving on path.
func Get(ctx context.Context, path string) ([]byte, error) { return get(ctx, path, "/status") }

// Diag asks the VNet serving on path to check what it depends on and
// returns the raw JSON.
func Diag(ctx context.Context, path string) ([]byte, error) { return get(ctx, path, "/diag") }

func get(ctx context.Context, path, what string) ([]byte, error) {
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vnet"+what, nil)
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
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return io.ReadAll(resp.Body)
}
