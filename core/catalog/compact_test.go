package catalog

import (
	"reflect"
	"testing"

	"github.com/vnetproject/vnet/core/api"
)

// TestDeltaViewKeepsCompactApps: a full set, then an app added, one
// changed and one removed; the offer has the apps in name order as the
// catalog keeps them (no URI), and apps with the same labels share one
// map of them (issue 13: a laptop's 100,000 apps held as protobufs).
func TestDeltaViewKeepsCompactApps(t *testing.T) {
	dev := func() map[string]string { return map[string]string{"env": "dev", "team": "a"} }
	apps := func(as ...*api.App) *api.ListAppsResponse {
		return &api.ListAppsResponse{ClusterName: "root", ProxyPublicAddr: "proxy.test:3080", Apps: as}
	}
	v := &deltaView{}
	steps := []struct {
		name string
		u    *api.CatalogUpdate
		want []string // name public_addr
	}{
		{"full set", &api.CatalogUpdate{Revision: 1, Resync: true, Config: &api.VNetConfig{Ipv4CidrRange: "100.64.0.0/10"},
			Apps: apps(&api.App{Name: "b", Uri: "tcp://b:1", Labels: dev()}, &api.App{Name: "a", Uri: "tcp://a:1", Labels: dev()})},
			[]string{"a ", "b "}},
		{"c added", &api.CatalogUpdate{Revision: 2, Apps: apps(&api.App{Name: "c", Uri: "tcp://c:1", Labels: dev()})}, []string{"a ", "b ", "c "}},
		{"b changed", &api.CatalogUpdate{Revision: 3, Apps: apps(&api.App{Name: "b", Uri: "tcp://b:1", PublicAddr: "B.Company.Test", Labels: dev()})}, []string{"a ", "b b.company.test", "c "}},
		{"a removed", &api.CatalogUpdate{Revision: 4, Removed: []string{"a"}}, []string{"b b.company.test", "c "}},
	}
	for _, s := range steps {
		if _, err := v.apply(s.u); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		cl, err := v.offer()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var got []string
		for _, a := range cl[0].Apps {
			got = append(got, a.Name+" "+a.PublicAddr)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("%s: apps %q, want %q", s.name, got, s.want)
		}
		first := reflect.ValueOf(cl[0].Apps[0].Labels).UnsafePointer()
		for _, a := range cl[0].Apps {
			if !reflect.DeepEqual(a.Labels, dev()) || reflect.ValueOf(a.Labels).UnsafePointer() != first {
				t.Fatalf("%s: app %s's labels %v are not the one shared map of %v", s.name, a.Name, a.Labels, dev())
			}
		}
	}
	if v.revision != 4 || len(v.labels) != 1 {
		t.Fatalf("revision %d, %d label sets held; want 4 and 1", v.revision, len(v.labels))
	}
}
