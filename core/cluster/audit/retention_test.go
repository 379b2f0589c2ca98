package audit

import (
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/testkit"
)

// TestRetention: events older than the retention are deleted, at a log's
// start and by PruneBefore; newer ones stay.
func TestRetention(t *testing.T) {
	st := store.NewMemory()
	now := time.Now()
	// Writing through a log that keeps everything.
	l, err := New(Config{Store: st, Retention: 1000 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, age := range []time.Duration{100 * 24 * time.Hour, 30 * 24 * time.Hour, 2 * time.Hour, time.Minute} {
		l.Emit(Event{Time: now.Add(-age), Type: SessionStart, User: "alice", App: age.String()})
	}
	l.Close()
	count := func() int {
		items, err := st.List(ctx(t), Prefix)
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	if n := count(); n != 4 {
		t.Fatalf("%d events stored, want 4", n)
	}

	// A new log with the default 90 days prunes at start: one event goes.
	l2, err := New(Config{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	testkit.Eventually(t, "3 events after start (the 100-day-old one pruned)", func() bool { return count() == 3 })

	n, err := l2.PruneBefore(ctx(t), now.Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneBefore(1h ago) = %d, %v; want 2 deleted", n, err)
	}
	evs, err := l2.Search(ctx(t), Query{})
	if err != nil || len(evs) != 1 || evs[0].App != time.Minute.String() {
		t.Fatalf("left: %+v, %v; want only the newest", evs, err)
	}
}
