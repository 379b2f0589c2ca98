package control

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestStatusRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	if _, err := Get(context.Background(), path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Get with nothing running = %v, want ErrNotRunning", err)
	}
	s, err := Listen(path, -1, -1, Handlers{
		Status: func() any { return map[string]int{"apps": 3} },
		Diag:   func(context.Context) any { return map[string]bool{"ok": true} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, -1, -1, Handlers{}); err == nil {
		t.Fatal("a second VNet took over a live socket")
	}
	data, err := Get(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := json.Unmarshal(data, &got); err != nil || got["apps"] != 3 {
		t.Fatalf("status = %s, %v", data, err)
	}
	data, err = Diag(context.Background(), path)
	if err != nil || string(data) != "{\n  \"ok\": true\n}\n" {
		t.Fatalf("Diag = %q, %v", data, err)
	}
	s.Close()
	s.Close()
	if _, err := Get(context.Background(), path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Get after Close = %v, want ErrNotRunning", err)
	}
	// A stale socket file (a VNet that died) does not block the next one.
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	s2, err := Listen(path, -1, -1, Handlers{})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}
