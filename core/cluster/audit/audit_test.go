package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vnetproject/vnet/core/cluster/store"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestKeysSortByTime(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := ""
	for i, d := range []time.Duration{0, time.Nanosecond, time.Second, 100 * 365 * 24 * time.Hour} {
		k := Key(base.Add(d))
		if !strings.HasPrefix(k, Prefix) || k <= prev {
			t.Fatalf("key %d %q does not sort after %q", i, k, prev)
		}
		prev = k
	}
	if a, b := Key(base), Key(base); a == b {
		t.Fatalf("two keys of the same instant are equal: %q", a)
	}
}

func TestLogAndSearch(t *testing.T) {
	st := store.NewMemory()
	l, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []Event{
		{Time: base, Type: SessionStart, User: "alice", App: "db", SessionID: "s1"},
		{Time: base.Add(time.Minute), Type: SessionEnd, User: "alice", App: "db", SessionID: "s1", BytesIn: 5, BytesOut: 8, Duration: time.Minute},
		{Time: base.Add(2 * time.Minute), Type: SessionRejected, User: "bob", App: "db", Error: "access denied"},
		{Time: base.Add(3 * time.Minute), Type: SessionStart, User: "bob", App: "web", SessionID: "s2"},
	}
	for _, ev := range events {
		l.Emit(ev)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Emit(events[0]) // after Close: dropped, no panic

	tests := []struct {
		name string
		q    Query
		want []int // indexes into events
	}{
		{"everything", Query{}, []int{0, 1, 2, 3}},
		{"user", Query{User: "bob"}, []int{2, 3}},
		{"app", Query{App: "db"}, []int{0, 1, 2}},
		{"user and app", Query{User: "alice", App: "web"}, nil},
		{"since is inclusive", Query{Since: base.Add(time.Minute)}, []int{1, 2, 3}},
		{"until is exclusive", Query{Until: base.Add(2 * time.Minute)}, []int{0, 1}},
		{"type", Query{Types: []string{SessionRejected}}, []int{2}},
		{"limit keeps the newest", Query{Limit: 2}, []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Search(ctx(t), st, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Search = %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				want := events[w]
				if !got[i].Time.Equal(want.Time) || got[i].Type != want.Type || got[i].User != want.User || got[i].BytesOut != want.BytesOut || got[i].Duration != want.Duration {
					t.Errorf("event %d = %+v, want %+v", i, got[i], want)
				}
			}
		})
	}
}

// slowStore blocks every write until released, as a store that cannot
// keep up would.
type slowStore struct {
	store.Store
	release chan struct{}
}

func (s *slowStore) PutAll(ctx context.Context, items []store.Item) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.PutAll(ctx, items)
}

func TestSlowStoreDropsAndRecordsTheGap(t *testing.T) {
	st := &slowStore{Store: store.NewMemory(), release: make(chan struct{})}
	l, err := New(Config{Store: st, QueueSize: 4, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The writer's batch holds at most four events, the queue four: the
	// rest are dropped, and Emit never blocks.
	const n = 50
	for i := 0; i < n; i++ {
		l.Emit(Event{Type: SessionStart, User: fmt.Sprint("u", i)})
	}
	close(st.release)
	got := closeAndRead(t, l, st.Store)
	var kept, dropped int64
	for _, ev := range got {
		switch ev.Type {
		case SessionStart:
			kept++
		case Dropped:
			dropped += ev.Count
		}
	}
	if kept < 1 || kept > 8 || kept+dropped != n {
		t.Fatalf("kept %d and recorded %d dropped of %d; want at most 8 kept and the rest counted", kept, dropped, n)
	}
}

// failingStore refuses every write.
type failingStore struct{ store.Store }

func (failingStore) PutAll(context.Context, []store.Item) error { return errors.New("disk full") }

func TestNewAndFailingStore(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
	l, err := New(Config{Store: failingStore{store.NewMemory()}})
	if err != nil {
		t.Fatal(err)
	}
	l.Emit(Event{Type: SessionStart})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := l.dropped.Load(); got != 1 {
		t.Fatalf("dropped = %d, want 1 (the failed write)", got)
	}
}

// TestEventFieldsBounded: an event's string fields are stored cut to
// their bounds, whatever length the client sent.
func TestEventFieldsBounded(t *testing.T) {
	st := store.NewMemory()
	l, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 50_000) // two bytes a rune: a cut must not split one
	l.Emit(Event{Type: SessionRejected, User: "alice", App: long, Target: long, ClientAddr: "192.0.2.1:4000", ClientReportedAddr: long, Error: "no app " + long})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Search(ctx(t), st, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Search = %d events, want 1", len(got))
	}
	ev := got[0]
	for _, f := range []struct {
		name, v string
		max     int
	}{{"app", ev.App, MaxFieldLen}, {"target", ev.Target, MaxFieldLen}, {"client_reported_addr", ev.ClientReportedAddr, MaxFieldLen}, {"error", ev.Error, MaxErrorLen}} {
		if len(f.v) > f.max || !utf8.ValidString(f.v) || !strings.Contains(f.v, "more bytes)") || !strings.Contains(f.v, "éé") {
			t.Errorf("%s = %d bytes %q, want a valid prefix of at most %d bytes with a marker", f.name, len(f.v), f.v, f.max)
		}
	}
	if ev.User != "alice" || ev.ClientAddr != "192.0.2.1:4000" {
		t.Errorf("short fields changed: user %q client_addr %q", ev.User, ev.ClientAddr)
	}
}

// TestRejectionFloodKeepsSessionEvents: with the store stalled and a
// flood of rejected dials filling the queue, a session's start and end
// still get in; every event is stored or counted.
func TestRejectionFloodKeepsSessionEvents(t *testing.T) {
	st := &slowStore{Store: store.NewMemory(), release: make(chan struct{})}
	l, err := New(Config{Store: st, QueueSize: 8, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const flood = 100
	for i := 0; i < flood; i++ {
		l.Emit(Event{Type: SessionRejected, User: "mallory", App: fmt.Sprint("nope", i)})
	}
	l.Emit(Event{Type: SessionStart, User: "alice", App: "db", SessionID: "s1"})
	l.Emit(Event{Type: SessionEnd, User: "alice", App: "db", SessionID: "s1"})
	close(st.release)
	got := closeAndRead(t, l, st.Store)
	var start, end bool
	var rejected, dropped int64
	for _, ev := range got {
		switch ev.Type {
		case SessionStart:
			start = true
		case SessionEnd:
			end = true
		case SessionRejected:
			rejected++
		case Dropped:
			dropped += ev.Count
		}
	}
	if !start || !end {
		t.Errorf("session start kept %v, end kept %v; want both kept under a flood of rejections", start, end)
	}
	if rejected > 8/2 || rejected+dropped != flood {
		t.Errorf("kept %d rejections and counted %d dropped of %d; want at most half the queue (the batch being written included) kept, the rest counted", rejected, dropped, flood)
	}
}

// TestDroppedCountSurvivesRestart: events dropped while the store
// refuses writes are recorded at a later start, also after a start whose
// store still refused them.
func TestDroppedCountSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit-dropped")
	mem := store.NewMemory()
	run := func(st store.Store, events int) {
		t.Helper()
		l, err := New(Config{Store: st, DroppedFile: file})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < events; i++ {
			l.Emit(Event{Type: SessionStart, User: "alice"})
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run(failingStore{mem}, 3) // the disk is full
	run(failingStore{mem}, 2) // restarted before it recovered
	run(mem, 0)               // it recovered
	got, err := Search(ctx(t), mem, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != Dropped || got[0].Count != 5 {
		t.Fatalf("after the store recovered the log holds %+v, want one %s event of count 5", got, Dropped)
	}
	run(mem, 0) // recorded once, not again at the next start
	if got, err = Search(ctx(t), mem, Query{Types: []string{Dropped}}); err != nil || len(got) != 1 {
		t.Fatalf("after another start: %d %s events (err %v), want still 1", len(got), Dropped, err)
	}
}

// batchStore records the size of every PutAll and holds them until
// released.
type batchStore struct {
	slowStore
	mu    sync.Mutex
	sizes []int
}

func (s *batchStore) PutAll(ctx context.Context, items []store.Item) error {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(items))
	s.mu.Unlock()
	return s.slowStore.PutAll(ctx, items)
}

// TestBurstWrittenInBatches: events that pile up while the store writes
// go in together, one store write for many, and all of them read back in
// their order.
func TestBurstWrittenInBatches(t *testing.T) {
	st := &batchStore{slowStore: slowStore{Store: store.NewMemory(), release: make(chan struct{})}}
	l, err := New(Config{Store: st, QueueSize: 256, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		l.Emit(Event{Time: base.Add(time.Duration(i) * time.Millisecond), Type: SessionStart, User: fmt.Sprint("u", i)})
	}
	close(st.release)
	got := closeAndRead(t, l, st.Store)
	if len(got) != n {
		t.Fatalf("Search = %d events, want %d", len(got), n)
	}
	for i, ev := range got {
		if want := fmt.Sprint("u", i); ev.User != want || !ev.Time.Equal(base.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("event %d is %s at %v, want %s in emit order", i, ev.User, ev.Time, want)
		}
	}
	// The writer took at least the first event into its blocked write; the
	// rest waited and went in at most one more write each of at most
	// maxBatch: one of the writes carried half of the burst or more.
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sizes) == 0 || slices.Max(st.sizes) < n/2 || len(st.sizes) > 2 {
		t.Fatalf("store writes of %v events, want at most 2 writes, one of them of %d or more", st.sizes, n/2)
	}
}

// TestLingerGathersEvents: events that come while the writer lingers
// after the first go in the same store write, and Close does not wait for
// the linger to end.
func TestLingerGathersEvents(t *testing.T) {
	for _, tc := range []struct {
		linger time.Duration
		want   []int
	}{{time.Hour, []int{3}}, {-1, []int{1, 2}}} {
		st := &batchStore{slowStore: slowStore{Store: store.NewMemory(), release: make(chan struct{})}}
		close(st.release)
		l, err := New(Config{Store: st, Linger: tc.linger})
		if err != nil {
			t.Fatal(err)
		}
		l.Emit(Event{Type: SessionStart, User: "u0"})
		for len(l.queue) > 0 { // the writer has taken the first event
			runtime.Gosched()
		}
		if tc.linger < 0 {
			for { // and stored it, not lingering
				st.mu.Lock()
				n := len(st.sizes)
				st.mu.Unlock()
				if n > 0 {
					break
				}
				runtime.Gosched()
			}
		}
		l.Emit(Event{Type: SessionEnd, User: "u0"})
		l.Emit(Event{Type: SessionStart, User: "u1"})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		st.mu.Lock()
		got := slices.Clone(st.sizes)
		st.mu.Unlock()
		if !slices.Equal(got, tc.want) {
			t.Errorf("linger %v: store writes of %v events, want %v", tc.linger, got, tc.want)
		}
	}
}

// TestFailedBatchLoggedPerEvent: a write that fails loses every event of
// its batch, and each one is logged and counted.
func TestFailedBatchLoggedPerEvent(t *testing.T) {
	var buf syncBuffer
	l, err := New(Config{Store: failingStore{store.NewMemory()}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		l.Emit(Event{Type: SessionStart, User: fmt.Sprint("u", i), App: "db"})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := l.dropped.Load(); got != n {
		t.Fatalf("dropped = %d, want %d", got, n)
	}
	out := buf.String()
	if got := strings.Count(out, "audit event lost"); got != n {
		t.Fatalf("%d lines say an event was lost, want %d:\n%s", got, n, out)
	}
	for i := 0; i < n; i++ {
		if !strings.Contains(out, fmt.Sprintf("user=u%d ", i)) {
			t.Errorf("no line names the lost event of u%d", i)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closeAndRead closes l, which writes what it holds, and reads back every
// event of st.
func closeAndRead(t *testing.T, l *Log, st store.Store) []Event {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Search(ctx(t), st, Query{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
