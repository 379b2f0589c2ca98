// Package storetest is the conformance suite every store.Store backend must
// pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// timeout bounds every case so a deadlocked backend fails instead of hanging
// the test binary. It is generous: the machine may be slow.
const timeout = time.Minute

// Run runs the conformance suite against the backend open returns. open must
// return a new, empty store on every call; Run closes each store it opens
// (open may register its own cleanups, e.g. t.TempDir, which run after).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"EmptyValue", testEmptyValue},
		{"EmptyKey", testEmptyKey},
		{"Create", testCreate},
		{"Delete", testDelete},
		{"ListPrefixSorted", testListPrefixSorted},
		{"CompareAndSwap", testCompareAndSwap},
		{"ValuesCopied", testValuesCopied},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentCreateOneWins", testConcurrentCreateOneWins},
		{"ConcurrentCompareAndSwapOneWins", testConcurrentCASOneWins},
		{"CanceledContext", testCanceledContext},
		{"Close", testClose},
	}
	tests = append(tests, watchCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			tt.fn(t, ctx, s)
		})
	}
}

func mustPut(t *testing.T, ctx context.Context, s store.Store, key, value string) {
	t.Helper()
	if err := s.Put(ctx, key, []byte(value)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func wantValue(t *testing.T, ctx context.Context, s store.Store, key, want string) {
	t.Helper()
	got, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantMissing(t *testing.T, ctx context.Context, s store.Store, key string) {
	t.Helper()
	got, err := s.Get(ctx, key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

func testGetMissing(t *testing.T, ctx context.Context, s store.Store) {
	wantMissing(t, ctx, s, "/users/nobody")
}

func testPutGet(t *testing.T, ctx context.Context, s store.Store) {
	mustPut(t, ctx, s, "/users/alice", "v1")
	wantValue(t, ctx, s, "/users/alice", "v1")
	mustPut(t, ctx, s, "/users/alice", "v2") // overwrite
	wantValue(t, ctx, s, "/users/alice", "v2")
	// A binary value with NUL and high bytes survives unchanged.
	bin := string([]byte{0, 1, 0xff, 0xfe, '\n', 0})
	mustPut(t, ctx, s, "/ca/key", bin)
	wantValue(t, ctx, s, "/ca/key", bin)
	wantMissing(t, ctx, s, "/users/alic") // no prefix matching in Get
}

func testEmptyValue(t *testing.T, ctx context.Context, s store.Store) {
	if err := s.Put(ctx, "/empty", nil); err != nil {
		t.Fatalf("Put(nil value): %v", err)
	}
	got, err := s.Get(ctx, "/empty")
	if err != nil {
		t.Fatalf("Get of an empty value: %v (an empty value is not a missing key)", err)
	}
	if len(got) != 0 {
		t.Fatalf("Get = %q, want empty", got)
	}
	if err := s.Create(ctx, "/empty", []byte("x")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Create over an empty value: %v, want ErrExists", err)
	}
	// nil and empty compare equal.
	if err := s.CompareAndSwap(ctx, "/empty", []byte{}, []byte("x")); err != nil {
		t.Fatalf("CompareAndSwap from empty: %v", err)
	}
	wantValue(t, ctx, s, "/empty", "x")
}

func testEmptyKey(t *testing.T, ctx context.Context, s store.Store) {
	if err := s.Put(ctx, "", []byte("v")); err == nil {
		t.Error("Put with an empty key: want an error")
	}
	if err := s.Create(ctx, "", []byte("v")); err == nil {
		t.Error("Create with an empty key: want an error")
	}
	if _, err := s.Get(ctx, ""); err == nil {
		t.Error("Get with an empty key: want an error")
	}
	items, err := s.List(ctx, "")
	if err != nil || len(items) != 0 {
		t.Errorf("List after failed writes = %v, %v; want nothing stored", items, err)
	}
}

func testCreate(t *testing.T, ctx context.Context, s store.Store) {
	if err := s.Create(ctx, "/tokens/t1", []byte("first")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	wantValue(t, ctx, s, "/tokens/t1", "first")
	err := s.Create(ctx, "/tokens/t1", []byte("second"))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	wantValue(t, ctx, s, "/tokens/t1", "first")
}

func testDelete(t *testing.T, ctx context.Context, s store.Store) {
	if err := s.Delete(ctx, "/users/alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete of a missing key: %v, want ErrNotFound", err)
	}
	mustPut(t, ctx, s, "/users/alice", "a")
	mustPut(t, ctx, s, "/users/alice2", "b")
	if err := s.Delete(ctx, "/users/alice"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, ctx, s, "/users/alice")
	wantValue(t, ctx, s, "/users/alice2", "b") // a neighbour is untouched
	if err := s.Delete(ctx, "/users/alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	// A deleted key can be created again.
	if err := s.Create(ctx, "/users/alice", []byte("c")); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
}

func testListPrefixSorted(t *testing.T, ctx context.Context, s store.Store) {
	// Written out of order, with near misses around the prefix.
	for _, k := range []string{"/users/carol", "/tokens/x", "/users/alice", "/users", "/users2/zed", "/users/bob/roles", "/users/bob", "/a"} {
		mustPut(t, ctx, s, k, "v"+k)
	}
	tests := []struct {
		name   string
		prefix string
		want   []string
	}{
		{name: "folder", prefix: "/users/", want: []string{"/users/alice", "/users/bob", "/users/bob/roles", "/users/carol"}},
		{name: "bare prefix", prefix: "/users", want: []string{"/users", "/users/alice", "/users/bob", "/users/bob/roles", "/users/carol", "/users2/zed"}},
		{name: "exact key", prefix: "/tokens/x", want: []string{"/tokens/x"}},
		{name: "no match", prefix: "/roles/", want: nil},
		{name: "past the end", prefix: "/zzz", want: nil},
		{name: "everything", prefix: "", want: []string{"/a", "/tokens/x", "/users", "/users/alice", "/users/bob", "/users/bob/roles", "/users/carol", "/users2/zed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := s.List(ctx, tt.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.prefix, err)
			}
			var keys []string
			for _, it := range items {
				keys = append(keys, it.Key)
				if want := "v" + it.Key; string(it.Value) != want {
					t.Errorf("List(%q): %s = %q, want %q", tt.prefix, it.Key, it.Value, want)
				}
			}
			if fmt.Sprint(keys) != fmt.Sprint(tt.want) {
				t.Errorf("List(%q) keys = %q, want %q", tt.prefix, keys, tt.want)
			}
		})
	}
}

func testCompareAndSwap(t *testing.T, ctx context.Context, s store.Store) {
	err := s.CompareAndSwap(ctx, "/tokens/t1", []byte("unused"), []byte("used"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CompareAndSwap of a missing key: %v, want ErrNotFound", err)
	}
	wantMissing(t, ctx, s, "/tokens/t1") // and it did not create it

	mustPut(t, ctx, s, "/tokens/t1", "unused")
	err = s.CompareAndSwap(ctx, "/tokens/t1", []byte("other"), []byte("used"))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CompareAndSwap with a wrong old value: %v, want ErrConflict", err)
	}
	wantValue(t, ctx, s, "/tokens/t1", "unused")

	if err := s.CompareAndSwap(ctx, "/tokens/t1", []byte("unused"), []byte("used")); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	wantValue(t, ctx, s, "/tokens/t1", "used")

	// Spending the token a second time fails.
	err = s.CompareAndSwap(ctx, "/tokens/t1", []byte("unused"), []byte("used"))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CompareAndSwap: %v, want ErrConflict", err)
	}
}

func testValuesCopied(t *testing.T, ctx context.Context, s store.Store) {
	in := []byte("original")
	if err := s.Put(ctx, "/k", in); err != nil {
		t.Fatal(err)
	}
	copy(in, "MUTATED!")
	wantValue(t, ctx, s, "/k", "original")

	in = []byte("created")
	if err := s.Create(ctx, "/c", in); err != nil {
		t.Fatal(err)
	}
	copy(in, "MUTATED")
	wantValue(t, ctx, s, "/c", "created")

	in = []byte("swapped")
	if err := s.CompareAndSwap(ctx, "/c", []byte("created"), in); err != nil {
		t.Fatal(err)
	}
	copy(in, "MUTATED")
	wantValue(t, ctx, s, "/c", "swapped")

	out, err := s.Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	copy(out, "MUTATED!")
	wantValue(t, ctx, s, "/k", "original")

	items, err := s.List(ctx, "/k")
	if err != nil || len(items) != 1 {
		t.Fatalf("List = %v, %v", items, err)
	}
	copy(items[0].Value, "MUTATED!")
	wantValue(t, ctx, s, "/k", "original")
}

func testConcurrentPuts(t *testing.T, ctx context.Context, s store.Store) {
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				key := fmt.Sprintf("/w/%d/%02d", w, i)
				if err := s.Put(ctx, key, []byte(key)); err != nil {
					t.Errorf("Put(%q): %v", key, err)
					return
				}
				// Every worker also writes a shared key and reads it back.
				if err := s.Put(ctx, "/shared", []byte(key)); err != nil {
					t.Errorf("Put(/shared): %v", err)
					return
				}
				if _, err := s.Get(ctx, "/shared"); err != nil {
					t.Errorf("Get(/shared): %v", err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	items, err := s.List(ctx, "/w/")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != workers*perWorker {
		t.Fatalf("List after concurrent puts: %d items, want %d", len(items), workers*perWorker)
	}
	for i, it := range items {
		if string(it.Value) != it.Key {
			t.Errorf("%s = %q, want its key", it.Key, it.Value)
		}
		if i > 0 && items[i-1].Key >= it.Key {
			t.Errorf("List not sorted: %q before %q", items[i-1].Key, it.Key)
		}
	}
}

// race runs fn from n goroutines released together and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}(i)
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentCreateOneWins(t *testing.T, ctx context.Context, s store.Store) {
	errs := race(8, func(i int) error {
		return s.Create(ctx, "/cluster/ca", []byte(fmt.Sprint(i)))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Create succeeded for both %d and %d", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Fatalf("Create %d: %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no Create succeeded")
	}
	wantValue(t, ctx, s, "/cluster/ca", fmt.Sprint(winner))
}

func testConcurrentCASOneWins(t *testing.T, ctx context.Context, s store.Store) {
	mustPut(t, ctx, s, "/tokens/once", "unused")
	errs := race(8, func(i int) error {
		return s.CompareAndSwap(ctx, "/tokens/once", []byte("unused"), []byte(fmt.Sprint("used by ", i)))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("token spent by both %d and %d", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("CompareAndSwap %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no CompareAndSwap succeeded")
	}
	wantValue(t, ctx, s, "/tokens/once", fmt.Sprint("used by ", winner))
}

func testCanceledContext(t *testing.T, ctx context.Context, s store.Store) {
	mustPut(t, ctx, s, "/k", "v")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	ops := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := s.Get(canceled, "/k"); return err }},
		{"Put", func() error { return s.Put(canceled, "/k", []byte("x")) }},
		{"Create", func() error { return s.Create(canceled, "/new", []byte("x")) }},
		{"Delete", func() error { return s.Delete(canceled, "/k") }},
		{"List", func() error { _, err := s.List(canceled, ""); return err }},
		{"CompareAndSwap", func() error { return s.CompareAndSwap(canceled, "/k", []byte("v"), []byte("x")) }},
	}
	for _, op := range ops {
		if err := op.do(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled", op.name, err)
		}
	}
	wantValue(t, ctx, s, "/k", "v")
	wantMissing(t, ctx, s, "/new")
}

func testClose(t *testing.T, ctx context.Context, s store.Store) {
	mustPut(t, ctx, s, "/k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "/k"); return err }},
		{"Put", func() error { return s.Put(ctx, "/k", []byte("x")) }},
		{"Create", func() error { return s.Create(ctx, "/new", []byte("x")) }},
		{"Delete", func() error { return s.Delete(ctx, "/k") }},
		{"List", func() error { _, err := s.List(ctx, ""); return err }},
		{"CompareAndSwap", func() error { return s.CompareAndSwap(ctx, "/k", []byte("v"), []byte("x")) }},
	}
	for _, op := range ops {
		if err := op.do(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op.name, err)
		}
	}
}
