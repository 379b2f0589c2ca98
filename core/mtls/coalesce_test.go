package mtls

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// recordConn records each write(2) it is given.
type recordConn struct {
	net.Conn
	writes [][]byte
	err    error
}

func (r *recordConn) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestBatchConnOrder: the records of a held Write go out in one write, in
// order; a write while nothing is held goes out at once, after whatever
// was kept (TLS numbers its records: a record written out of order breaks
// the connection).
func TestBatchConnOrder(t *testing.T) {
	raw := &recordConn{}
	b := &batchConn{Conn: raw}
	b.hold()
	b.Write([]byte("r1"))
	b.Write([]byte("r2"))
	if len(raw.writes) != 0 {
		t.Fatalf("wrote %q while held", raw.writes)
	}
	if err := b.release(); err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("r3")) // nothing held: at once
	b.hold()
	b.Write([]byte("r4"))
	b.hold() // nested: the outer release writes
	b.Write([]byte("r5"))
	b.release()
	if len(raw.writes) != 2 {
		t.Fatalf("writes %q before the last release, want 2", raw.writes)
	}
	b.release()
	want := []string{"r1r2", "r3", "r4r5"}
	if len(raw.writes) != len(want) {
		t.Fatalf("writes %q, want %q", raw.writes, want)
	}
	for i, w := range raw.writes {
		if string(w) != want[i] {
			t.Errorf("write %d: %q, want %q", i, w, want[i])
		}
	}
}

// TestBatchConnError: a failed write is reported by the release that made
// it and by every write after.
func TestBatchConnError(t *testing.T) {
	broken := errors.New("broken pipe")
	raw := &recordConn{err: broken}
	b := &batchConn{Conn: raw}
	b.hold()
	if _, err := b.Write([]byte("r1")); err != nil {
		t.Fatalf("held write: %v", err)
	}
	if err := b.release(); !errors.Is(err, broken) {
		t.Errorf("release: %v, want %v", err, broken)
	}
	if _, err := b.Write([]byte("r2")); !errors.Is(err, broken) {
		t.Errorf("write after the failure: %v, want %v", err, broken)
	}
}
