package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// watchCases are the conformance cases of Snapshot and Watch.
var watchCases = []struct {
	name string
	fn   func(t *testing.T, ctx context.Context, s store.Store)
}{
	{"WatchDelivers", testWatchDelivers},
	{"WatchResumes", testWatchResumes},
	{"WatchSnapshotRevision", testWatchSnapshotRevision},
	{"WatchCanceled", testWatchCanceled},
	{"WatchEndsOnClose", testWatchEndsOnClose},
	{"PutAll", testPutAll},
}

// testPutAll: many keys in one call (more than one etcd transaction
// holds) are all stored, and all watched.
func testPutAll(t *testing.T, ctx context.Context, s store.Store) {
	mustPut(t, ctx, s, "/apps/0000", "old")
	_, rev, err := s.Snapshot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, "/apps/", rev)
	var items []store.Item
	for i := range 300 {
		items = append(items, store.Item{Key: fmt.Sprintf("/apps/%04d", i), Value: []byte(fmt.Sprint(i))})
	}
	if err := s.PutAll(ctx, items); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, "/apps/")
	if err != nil || len(got) != 300 || string(got[0].Value) != "0" || string(got[299].Value) != "299" {
		t.Fatalf("after PutAll List = %d items, %v", len(got), err)
	}
	evs := Collect(t, ctx, ch, 300)
	for i, ev := range evs {
		if ev.Key != items[i].Key || string(ev.Value) != string(items[i].Value) || ev.Revision <= rev {
			t.Fatalf("event %d = %+v, want the put of %s after revision %d", i, ev, items[i].Key, rev)
		}
	}
	if err := s.PutAll(ctx, []store.Item{{Key: "", Value: nil}}); err == nil {
		t.Fatal("PutAll with an empty key: want an error")
	}
}

// Collect reads n events from ch, failing the test if the watch ends
// first or ctx (the case's deadlock guard) runs out.
func Collect(t testing.TB, ctx context.Context, ch <-chan store.Batch, n int) []store.Event {
	t.Helper()
	var got []store.Event
	for len(got) < n {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(got), n)
			}
			if b.Err != nil {
				t.Fatalf("watch ended after %d of %d events: %v", len(got), n, b.Err)
			}
			got = append(got, b.Events...)
		case <-ctx.Done():
			t.Fatalf("%d of %d events before the deadline: %+v", len(got), n, got)
		}
	}
	return got
}

// End reads ch until its last batch and returns that batch's error (nil if
// the channel closed without one).
func End(t testing.TB, ctx context.Context, ch <-chan store.Batch) error {
	t.Helper()
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return nil
			}
			if b.Err != nil {
				return b.Err
			}
		case <-ctx.Done():
			t.Fatal("the watch did not end before the deadline")
		}
	}
}

type wantEvent struct {
	key, value string
	deleted    bool
}

func checkEvents(t *testing.T, got []store.Event, want []wantEvent, after int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	prev := after
	for i, w := range want {
		g := got[i]
		if g.Key != w.key || string(g.Value) != w.value || g.Deleted != w.deleted {
			t.Errorf("event %d = {%s %q deleted=%v}, want {%s %q deleted=%v}", i, g.Key, g.Value, g.Deleted, w.key, w.value, w.deleted)
		}
		if g.Revision <= prev {
			t.Errorf("event %d revision %d, not after %d", i, g.Revision, prev)
		}
		prev = g.Revision
	}
}

// testWatchDelivers: every kind of write under the prefix is one event, in
// order; writes elsewhere and failed writes are none.
func testWatchDelivers(t *testing.T, ctx context.Context, s store.Store) {
	mustPut(t, ctx, s, "/apps/old", "0")
	_, rev, err := s.Snapshot(ctx, "/apps/")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, "/apps/", rev)
	mustPut(t, ctx, s, "/apps/a", "1")
	mustPut(t, ctx, s, "/roles/x", "r")
	if err := s.Create(ctx, "/apps/b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "/apps/b", []byte("again")); !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	if err := s.CompareAndSwap(ctx, "/apps/a", []byte("1"), []byte("3")); err != nil {
		t.Fatal(err)
	}
	if err := s.CompareAndSwap(ctx, "/apps/a", []byte("1"), []byte("4")); !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "/apps/b"); err != nil {
		t.Fatal(err)
	}
	checkEvents(t, Collect(t, ctx, ch, 4), []wantEvent{
		{"/apps/a", "1", false}, {"/apps/b", "2", false}, {"/apps/a", "3", false}, {"/apps/b", "", true},
	}, rev)
}

// testWatchResumes: a watch from a past revision delivers exactly what
// came after it (a watcher re-connecting).
func testWatchResumes(t *testing.T, ctx context.Context, s store.Store) {
	mustPut(t, ctx, s, "/apps/a", "1")
	_, rev, err := s.Snapshot(ctx, "/apps/")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, ctx, s, "/apps/b", "2")
	if err := s.Delete(ctx, "/apps/a"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, "/apps/", rev)
	checkEvents(t, Collect(t, ctx, ch, 2), []wantEvent{{"/apps/b", "2", false}, {"/apps/a", "", true}}, rev)
}

// testWatchSnapshotRevision: Snapshot's revision is that of the last write,
// and grows with every write.
func testWatchSnapshotRevision(t *testing.T, ctx context.Context, s store.Store) {
	_, r0, err := s.Snapshot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, ctx, s, "/k", "v")
	items, r1, err := s.Snapshot(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	if r1 <= r0 || len(items) != 1 {
		t.Fatalf("after a write Snapshot = %v at %d; want one item at a revision after %d", items, r1, r0)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, "", r0)
	checkEvents(t, Collect(t, ctx, ch, 1), []wantEvent{{"/k", "v", false}}, r0)
}

// testWatchCanceled: canceling the watch's context closes its channel.
func testWatchCanceled(t *testing.T, ctx context.Context, s store.Store) {
	_, rev, err := s.Snapshot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	ch := s.Watch(wctx, "", rev)
	cancel()
	if err := End(t, ctx, ch); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled watch ended with %v", err)
	}
}

// testWatchEndsOnClose: closing the store ends its watches with ErrClosed.
func testWatchEndsOnClose(t *testing.T, ctx context.Context, s store.Store) {
	_, rev, err := s.Snapshot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, "", rev)
	mustPut(t, ctx, s, "/k", "v")
	Collect(t, ctx, ch, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := End(t, ctx, ch); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after Close the watch ended with %v, want ErrClosed", err)
	}
}
