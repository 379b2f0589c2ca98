package resource

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRemoteClusterGrants(t *testing.T) {
	const head = "kind: remote_cluster\nversion: v1\nmetadata:\n  name: leaf.test\n"
	tests := []struct {
		name    string
		in      string
		want    LeafGrants
		wantErr string
	}{
		{"no spec: nothing granted", head, LeafGrants{}, ""},
		{"status is read-only and ignored", head + "status:\n  connected: true\n  refused: ['zone x.test: not granted']\n", LeafGrants{}, ""},
		{
			name: "zones normalised, range masked form kept",
			in:   head + "spec:\n  grants:\n    zones: [LeafCorp.Test., eu.leafcorp.test]\n    ipv4_cidr_range: 100.70.0.0/16\n",
			want: LeafGrants{Zones: []string{"leafcorp.test", "eu.leafcorp.test"}, IPv4CIDRRange: "100.70.0.0/16"},
		},
		{"a single-label zone", head + "spec:\n  grants:\n    zones: [test]\n", LeafGrants{}, `spec.grants.zones[0]: "test" is a single label`},
		{"a wildcard zone", head + "spec:\n  grants:\n    zones: ['*.leaf.test']\n", LeafGrants{}, `spec.grants.zones[0]: "*.leaf.test" is a wildcard`},
		{"a zone twice", head + "spec:\n  grants:\n    zones: [a.test, A.test]\n", LeafGrants{}, `spec.grants.zones[1]: "A.test" is listed twice`},
		{"an IP as a zone", head + "spec:\n  grants:\n    zones: [10.0.0.1]\n", LeafGrants{}, "is an IP address"},
		{"a bad range", head + "spec:\n  grants:\n    ipv4_cidr_range: 100.70.0.1/16\n", LeafGrants{}, `spec.grants.ipv4_cidr_range: "100.70.0.1/16" has host bits set`},
		{"an IPv6 range", head + "spec:\n  grants:\n    ipv4_cidr_range: fd00::/64\n", LeafGrants{}, "IPv4 only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Parse = %v, want one line containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.(*RemoteCluster).Spec.Grants; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("grants = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLeafGrantsCheck(t *testing.T) {
	g := LeafGrants{Zones: []string{"A.test."}, IPv4CIDRRange: "100.70.0.0/16"}
	if err := g.CheckAndSetDefaults(); err != nil || g.Zones[0] != "a.test" || g.IPv4Prefix().String() != "100.70.0.0/16" {
		t.Fatalf("CheckAndSetDefaults = %v, %+v", err, g)
	}
	bad := LeafGrants{IPv4CIDRRange: "127.0.0.0/16"}
	if err := bad.CheckAndSetDefaults(); err == nil || !strings.HasPrefix(err.Error(), "ipv4_cidr_range: ") {
		t.Fatalf("a loopback grant: %v", err)
	}
}
