package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
	"github.com/vnetproject/vnet/core/cluster/store/storetest"
)

// TestBoltRevisionSurvivesReopen: the revision goes on counting in a
// reopened file, and a watch from before the reopen must re-sync: the
// changes in between are not kept.
func TestBoltRevisionSurvivesReopen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(ctx, "/a", []byte("1"))
	_, before, _ := s.Snapshot(ctx, "")
	s.Put(ctx, "/a", []byte("2"))
	s.Close()
	if s, err = store.OpenBolt(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, rev, err := s.Snapshot(ctx, "")
	if err != nil || rev != before+1 {
		t.Fatalf("after reopen revision %d, %v; want %d", rev, err, before+1)
	}
	if err := storetest.End(t, ctx, s.Watch(ctx, "", before)); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from before the reopen: %v, want ErrCompacted", err)
	}
	if err := storetest.End(t, ctx, s.Watch(ctx, "", rev+5)); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from a revision the store never had: %v, want ErrCompacted", err)
	}
}

// TestWatchSlowWatcherResyncs: a watcher that reads nothing while many
// changes commit neither blocks the writers nor grows without bound: it is
// told to re-sync.
func TestWatchSlowWatcherResyncs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := store.NewMemory()
	defer s.Close()
	ch := s.Watch(ctx, "", 0)
	// One batch may be on its way to the channel: write more than twice the bound.
	for i := 0; i < 1<<17+2; i++ {
		if err := s.Put(ctx, "/k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := storetest.End(t, ctx, ch); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("a watcher left behind ended with %v, want ErrCompacted", err)
	}
}

// TestEtcdWatchAcrossClients: a write through one client (proxy) reaches
// a watch through another, and a watch from a compacted revision is told
// to re-sync.
func TestEtcdWatchAcrossClients(t *testing.T) {
	url := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func() store.Store {
		s, err := store.OpenEtcd(ctx, store.EtcdConfig{Peers: []string{url}, Prefix: "/c1/"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	_, rev, err := b.Snapshot(ctx, "/apps/")
	if err != nil {
		t.Fatal(err)
	}
	ch := b.Watch(ctx, "/apps/", rev)
	if err := a.Put(ctx, "/apps/web", []byte("w")); err != nil {
		t.Fatal(err)
	}
	got := storetest.Collect(t, ctx, ch, 1)
	if got[0].Key != "/apps/web" || string(got[0].Value) != "w" {
		t.Fatalf("b saw %+v, want a's put of /apps/web", got[0])
	}

	a.Put(ctx, "/apps/web", []byte("w2"))
	_, head, _ := a.Snapshot(ctx, "")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Compact(ctx, head); err != nil {
		t.Fatal(err)
	}
	if err := storetest.End(t, ctx, b.Watch(ctx, "/apps/", rev)); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v, want ErrCompacted", err)
	}
}
