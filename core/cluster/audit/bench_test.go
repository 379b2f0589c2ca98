package audit

import (
	"path/filepath"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// BenchmarkBurstToBolt: the cost per event of a burst of session events
// written to a bbolt store (a sync per write), from the first Emit until
// Close has stored the last.
func BenchmarkBurstToBolt(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "audit.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	l, err := New(Config{Store: st, QueueSize: b.N + 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Emit(Event{Type: SessionStart, User: "alice", App: "db", SessionID: "s"})
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := l.dropped.Load(); n != 0 {
		b.Fatalf("%d events dropped", n)
	}
}
