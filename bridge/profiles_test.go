package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/profile"
)

func TestListProfiles(t *testing.T) {
	c := clustertest.Start(t, "root.test", "proxy.root.test")
	dir := t.TempDir()
	if err := profile.Save(dir, c.AddUser(t, "alice", "dev")); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name    string
		dir     string
		now     time.Time
		want    int
		expired bool
		wantErr string
	}{
		{name: "one login", dir: dir, now: now, want: 1},
		{name: "one login, expired", dir: dir, now: now.Add(1000 * time.Hour), want: 1, expired: true},
		{name: "not logged in", dir: t.TempDir(), now: now, wantErr: "not logged in"},
		{name: "no directory", dir: filepath.Join(dir, "nope"), now: now, wantErr: "profile directory:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := listProfiles(tc.dir, tc.now)
			if len(l.Profiles) != tc.want || !strings.Contains(l.Error, tc.wantErr) || (tc.wantErr == "") != (l.Error == "") {
				t.Fatalf("got %+v", l)
			}
			if l.Profiles == nil {
				t.Error("profiles is null in JSON; want []")
			}
			for _, p := range l.Profiles {
				if p.Cluster != "root.test" || p.User != "alice" || p.Proxy != c.Addr || p.Expired != tc.expired || p.Expires.IsZero() {
					t.Errorf("profile %+v", p)
				}
			}
		})
	}
}
