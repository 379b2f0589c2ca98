package appcache

import (
	"context"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// TestItemsAnswerAsTheStore: the cache answers for the apps' keys with
// values that parse as the stored apps, and lists them by key.
func TestItemsAnswerAsTheStore(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	for _, name := range []string{"web", "db", "web2"} {
		a := resource.NewApp(name, "tcp://127.0.0.1:80", "", nil)
		data, err := resource.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, AppsPrefix+name, data); err != nil {
			t.Fatal(err)
		}
	}
	c := New(st, "c", "proxy.test:3080", nil)
	if _, err := c.load(ctx); err != nil {
		t.Fatal(err)
	}
	src := c.Items()
	v, ok := src.Get(AppsPrefix + "web")
	if !ok {
		t.Fatal("web not found")
	}
	r, err := resource.Parse(v)
	if err != nil || r.Name() != "web" || r.Kind() != resource.KindApp {
		t.Fatalf("Get web parses as %v, %v", r, err)
	}
	if _, ok := src.Get(AppsPrefix + "nope"); ok {
		t.Fatal("an app the cache does not hold was found")
	}
	if _, ok := src.Get("/resources/role/web"); ok {
		t.Fatal("a key outside the apps was answered")
	}
	for prefix, want := range map[string][]string{
		"/resources/":       {"db", "web", "web2"},
		AppsPrefix + "web":  {"web", "web2"},
		"/auth/users/":      nil,
		"/resources/role/x": nil,
	} {
		var got []string
		for _, it := range src.List(prefix) {
			got = append(got, it.Key[len(AppsPrefix):])
		}
		if len(got) != len(want) || (len(got) > 0 && (got[0] != want[0] || got[len(got)-1] != want[len(want)-1])) {
			t.Errorf("List(%q) = %v; want %v", prefix, got, want)
		}
	}
}
