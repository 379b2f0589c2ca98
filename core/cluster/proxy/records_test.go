package proxy

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// TestRecordsFollowTheStore: a dial reads the app and the user's roles
// as stored now: the same bytes are not parsed again, and a change or a
// removal committed before the dial is what the dial sees.
func TestRecordsFollowTheStore(t *testing.T) {
	ctx := context.Background()
	st := state.New(store.NewMemory())
	put := func(y string) {
		t.Helper()
		r, err := resource.Parse([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Create(ctx, r, true); err != nil {
			t.Fatal(err)
		}
	}
	recs := &records{state: st}
	put("kind: app\nversion: v1\nmetadata: {name: db, labels: {team: a}}\nspec: {uri: 'tcp://127.0.0.1:1'}\n")
	first, err := recs.app(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	again, err := recs.app(ctx, "db")
	if err != nil || again != first {
		t.Fatalf("the same stored app read twice: %p then %p (%v), want the one parse", first, again, err)
	}
	// Narrowed: the next dial sees the new labels, not the parsed ones.
	put("kind: app\nversion: v1\nmetadata: {name: db, labels: {team: b}}\nspec: {uri: 'tcp://127.0.0.1:1'}\n")
	cur, err := recs.app(ctx, "db")
	if err != nil || cur.Metadata.Labels["team"] != "b" {
		t.Fatalf("after the change: %+v, %v; want team b", cur, err)
	}
	if err := st.Delete(ctx, resource.KindApp, "db"); err != nil {
		t.Fatal(err)
	}
	if got, err := recs.app(ctx, "db"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("after the removal: %+v, %v; want not found", got, err)
	}

	// A role: the same, and a role and an app of one name are two records.
	put("kind: role\nversion: v1\nmetadata: {name: db}\nspec: {allow: {app_labels: {team: a}}}\n")
	role, err := recs.role(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := recs.role(ctx, "db"); err != nil || again != role {
		t.Fatalf("the same stored role read twice: %p then %p (%v), want the one parse", role, again, err)
	}
	if resource.AllowsApp([]*resource.Role{role}, map[string]string{"team": "b"}) {
		t.Fatal("the role allows team b before the change")
	}
	put("kind: role\nversion: v1\nmetadata: {name: db}\nspec: {allow: {app_labels: {team: b}}}\n")
	role, err = recs.role(ctx, "db")
	if err != nil || !resource.AllowsApp([]*resource.Role{role}, map[string]string{"team": "b"}) {
		t.Fatalf("after the change: %+v, %v; want a role that allows team b", role, err)
	}
	if err := st.Delete(ctx, resource.KindRole, "db"); err != nil {
		t.Fatal(err)
	}
	if got, err := recs.role(ctx, "db"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("after the removal: %+v, %v; want not found", got, err)
	}
}

// BenchmarkDialApp: a dial's read of its app and of a role from a bbolt
// store, parsed every time (state.App and state.Get, every dial before)
// and through records.
func BenchmarkDialApp(b *testing.B) {
	ctx := context.Background()
	bs, err := store.OpenBolt(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	st := state.New(bs)
	r, err := resource.Parse([]byte("kind: app\nversion: v1\nmetadata: {name: db, labels: {team: a, env: prod}}\nspec: {uri: 'tcp://127.0.0.1:5432', public_addr: db.company.test}\n"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Create(ctx, r, false); err != nil {
		b.Fatal(err)
	}
	role, err := resource.Parse([]byte("kind: role\nversion: v1\nmetadata: {name: dev}\nspec:\n  allow:\n    app_labels: {team: a, env: [prod, dev]}\n  deny:\n    app_labels: {secret: '*'}\n"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Create(ctx, role, false); err != nil {
		b.Fatal(err)
	}
	recs := &records{state: st}
	for _, tc := range []struct {
		name string
		get  func() (any, error)
	}{
		{"parse-per-dial", func() (any, error) { return st.App(ctx, "db") }},
		{"parse-on-change", func() (any, error) { return recs.app(ctx, "db") }},
		{"role-parse-per-dial", func() (any, error) { return st.Get(ctx, resource.KindRole, "dev") }},
		{"role-parse-on-change", func() (any, error) { return recs.role(ctx, "dev") }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := tc.get(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
