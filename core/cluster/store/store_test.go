package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
	"github.com/vnetproject/vnet/core/cluster/store/storetest"
	"github.com/vnetproject/vnet/core/testkit"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}

func TestBoltConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestBoltSurvivesReopen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "/ca/cert", []byte("cert")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "/users/alice", []byte("alice")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "/users/alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = store.OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "/ca/cert")
	if err != nil || string(got) != "cert" {
		t.Errorf("after reopen Get(/ca/cert) = %q, %v; want cert", got, err)
	}
	if _, err := s.Get(ctx, "/users/alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after reopen Get(/users/alice) error = %v, want ErrNotFound (it was deleted)", err)
	}
}

func TestBoltFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The file holds the CA's private key: nobody but the owner may read it.
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		t.Errorf("file mode %v, want no group or other access", mode)
	}
}

func TestBoltSecondOpenFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// flock locks conflict between open file descriptions even within one
	// process, so this stands in for a second daemon.
	done := make(chan error, 1)
	go func() {
		s2, err := store.OpenBolt(path)
		if err == nil {
			s2.Close()
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("second OpenBolt hung")
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second OpenBolt error = %v, want ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "locked by another process") || !strings.Contains(msg, path) {
		t.Errorf("error %q should name the file and say it is locked by another process", msg)
	}

	// Once the first store is closed the file opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt after Close: %v", err)
	}
	s3.Close()
}

func TestBoltOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a bolt file ", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{name: "missing directory", path: filepath.Join(dir, "no", "such", "dir", "state.db")},
		{name: "not a database", path: notDB},
		{name: "a directory", path: dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.OpenBolt(tt.path)
			if err == nil {
				s.Close()
				t.Fatalf("OpenBolt(%s): want an error", tt.path)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

// TestEtcdConformance runs the suite against a real etcd server; each
// case gets a prefix of its own, so they share one server.
func TestEtcdConformance(t *testing.T) {
	url := etcdtest.Start(t)
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		s, err := store.OpenEtcd(context.Background(), store.EtcdConfig{Peers: []string{url}, Prefix: fmt.Sprintf("/conformance/%d/", n)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestEtcdConfigErrors(t *testing.T) {
	url := etcdtest.Start(t)
	tests := []struct {
		name string
		cfg  store.EtcdConfig
		want string
	}{
		{"no peers", store.EtcdConfig{}, "at least one peer"},
		{"peer without scheme", store.EtcdConfig{Peers: []string{"127.0.0.1:2379"}}, "client URL"},
		{"relative prefix", store.EtcdConfig{Peers: []string{url}, Prefix: "vnet/"}, "must start with '/'"},
		{"nobody listening", store.EtcdConfig{Peers: []string{"http://" + testkit.ClosedPort(t)}, DialTimeout: time.Second}, "connect to etcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.OpenEtcd(context.Background(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("OpenEtcd succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("OpenEtcd = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}

// TestEtcdSharedBetweenClients: two stores on one etcd see each other's
// writes (two proxies), and a prefix keeps clusters apart.
func TestEtcdSharedBetweenClients(t *testing.T) {
	url := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func(prefix string) store.Store {
		s, err := store.OpenEtcd(ctx, store.EtcdConfig{Peers: []string{url}, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b, other := open("/c1/"), open("/c1/"), open("/c2/")
	if err := a.Create(ctx, "/auth/ca", []byte("ca-a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "/auth/ca", []byte("ca-b")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Create through another client: %v, want ErrExists", err)
	}
	if got, err := b.Get(ctx, "/auth/ca"); err != nil || string(got) != "ca-a" {
		t.Fatalf("b.Get = %q, %v; want a's value", got, err)
	}
	if items, err := other.List(ctx, ""); err != nil || len(items) != 0 {
		t.Fatalf("another prefix sees %v, %v; want nothing", items, err)
	}
}

// TestMirrorConformance: a Mirror over a store that answers is that store.
func TestMirrorConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		m, err := store.NewMirror(context.Background(), store.NewMemory(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}
