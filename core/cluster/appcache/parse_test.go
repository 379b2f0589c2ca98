package appcache

import (
	"fmt"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// TestParseAheadAsOneByOne: a listing parsed ahead on every CPU gives
// each catalog resource what parsing it alone gives (a damaged one its
// error), and leaves the other keys for applyOne.
func TestParseAheadAsOneByOne(t *testing.T) {
	var evs []store.Event
	for i := range 2500 { // more than one worker's share
		data, err := resource.Marshal(resource.NewApp(fmt.Sprintf("app%d", i), "tcp://127.0.0.1:1", "", map[string]string{"env": "dev"}))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, store.Event{Key: resourcesPrefix + resource.KindApp + fmt.Sprintf("/app%d", i), Value: data})
	}
	evs = append(evs,
		store.Event{Key: resourcesPrefix + resource.KindApp + "/damaged", Value: []byte("kind: app\nversion: v1\nmetadata: [")},
		store.Event{Key: resourcesPrefix + "trusted_cluster/t", Value: []byte("not parsed")},
		store.Event{Key: usersPrefix + "alice", Value: []byte("not parsed")},
		store.Event{Key: resourcesPrefix + resource.KindApp + "/gone", Deleted: true},
	)
	pre := parseAhead(evs)
	for i, ev := range evs {
		_, _, catalog := catalogKey(ev.Key)
		if pre[i].done != (catalog && !ev.Deleted) {
			t.Fatalf("%s: parsed ahead %v", ev.Key, pre[i].done)
		}
		if !pre[i].done {
			continue
		}
		r, err := resource.ParseStored(ev.Value)
		if (err == nil) != (pre[i].err == nil) || (r == nil) != (pre[i].r == nil) || (r != nil && r.Name() != pre[i].r.Name()) {
			t.Fatalf("%s: ahead %v, %v; alone %v, %v", ev.Key, pre[i].r, pre[i].err, r, err)
		}
	}
	if pre[2500].err == nil {
		t.Fatal("the damaged app parsed")
	}
}
