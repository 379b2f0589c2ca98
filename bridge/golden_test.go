package main

import (
	"bytes"
	"encoding"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/vnet"
)

var update = flag.Bool("update", false, "rewrite bridge/testdata/*.golden.json from the bridge's types")

// TestGoldenJSON pins the JSON the bridge exchanges with the Swift app:
// vnet_start's config, apply_settings' network settings, vnet_status,
// vnet_profiles and vnet_diagnose. Each sample sets every field, so each
// golden file shows every key; scripts/check-swift.sh checks the Swift
// Decodable types against these keys. After a deliberate change, run
// `go test ./bridge -run TestGoldenJSON -update` and fix the Swift side.
func TestGoldenJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	v4, v6 := netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("fd12:3456:789a::1")
	settings := netcfg.Settings{
		TunAddr4: v4,
		TunAddr6: v6,
		Routes:   []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("fd12:3456:789a::/64")},
		DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("fd12:3456:789a::2")},
		DNSZones: []string{"company.test", "proxy.company.test"},
		MTU:      1500,
	}
	tunnel, err := tunnelSettings(settings)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	cases := []struct {
		name string
		v    any
	}{
		{"config", StartConfig{
			ProfileDir:     "/Users/me/Library/Group Containers/group.vnet/vnet",
			UpstreamDNS:    []string{"192.0.2.53", "[2001:db8::53]:53"},
			ResolvConf:     "/etc/resolv.conf",
			MTU:            new(1500),
			LogLevel:       "info",
			StartTimeoutMS: new(30000),
			IPv6:           &yes,
		}},
		{"settings", tunnel},
		{"status", statusJSON(Status{
			State: StateFailed,
			Error: "the tunnel closed",
			Engine: vnet.Status{
				Running:  true,
				Since:    at,
				Settings: settings,
				Clusters: []catalog.ClusterStatus{{ID: "proxy.company.test:3080", Name: "company.test", Leaves: []string{"leaf.test"}, Connected: true, Updated: at, Error: "last fetch failed"}},
				Apps: []vnet.AppStatus{{
					ClusterID: "proxy.company.test:3080", Cluster: "company.test", Name: "db",
					PublicAddr: "db.proxy.company.test", DefaultAddr: true,
					IPv4: netip.MustParseAddr("100.64.0.10"), IPv6: netip.MustParseAddr("fd12:3456:789a::a"),
					Unreachable: "no address", LastError: "connection refused by the app", LastErrorTime: at,
				}},
				Problems: []string{"DNS is not configured"},
				Refused: []catalog.Refusal{{
					Cluster: "proxy.other.test:3080", ClusterName: "other.test", Kind: catalog.KindRange,
					Claim: "100.64.0.0/16", Holder: "proxy.company.test:3080", Reason: "overlaps 100.64.0.0/10",
				}},
			},
			Packets: PacketCounts{Injected: 1, InjectDropped: 2, Written: 3, WriteErrors: 4, Queued: 5},
			Process: ProcessStats{Goroutines: 42, OpenFDs: 17},
		})},
		{"profiles", ProfileList{
			Profiles: []ProfileInfo{{Cluster: "company.test", Proxy: "proxy.company.test:3080", User: "alice", Expires: at, Expired: false}},
			Error:    "profile directory: permission denied",
		}},
		{"diagnosis", diagnosisJSON(diag.Diagnosis{Checks: []diag.Check{{Name: "VNet", OK: true, Detail: "running"}}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The bytes the bridge writes, indented for review.
			compact, err := json.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, compact, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')

			var tree any
			if err := json.Unmarshal(compact, &tree); err != nil {
				t.Fatal(err)
			}
			if missing := missingKeys(reflect.TypeOf(c.v), tree, ""); len(missing) > 0 {
				t.Fatalf("the sample leaves out %s: set every field, so that the golden file shows every key", strings.Join(missing, ", "))
			}

			path := filepath.Join("testdata", c.name+".golden.json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./bridge -run TestGoldenJSON -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("%s is out of date: the bridge's JSON changed. If that is meant, run `go test ./bridge -run TestGoldenJSON -update`, then make the Swift Decodable types match (scripts/check-swift.sh).\ngot:\n%s", path, got.Bytes())
			}
		})
	}
	// What Swift sends must be what vnet_start accepts (it rejects unknown
	// fields).
	data, err := os.ReadFile(filepath.Join("testdata", "config.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sc StartConfig
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("config.golden.json: %v", err)
	}
}

// missingKeys lists the JSON keys of typ (and of the structs in it) that
// tree, its encoding, lacks: fields a sample left at a zero value that
// omitempty or omitzero drops, or empty slices.
func missingKeys(typ reflect.Type, tree any, path string) []string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	marshaler := reflect.TypeFor[json.Marshaler]()
	text := reflect.TypeFor[encoding.TextMarshaler]()
	if typ.Implements(marshaler) || typ.Implements(text) || reflect.PointerTo(typ).Implements(text) {
		return nil
	}
	switch typ.Kind() {
	case reflect.Slice:
		items, _ := tree.([]any)
		if len(items) == 0 {
			return []string{path + "[]"}
		}
		return missingKeys(typ.Elem(), items[0], path+"[]")
	case reflect.Struct:
		obj, _ := tree.(map[string]any)
		var out []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			v, ok := obj[name]
			if !ok {
				out = append(out, path+"."+name)
				continue
			}
			out = append(out, missingKeys(f.Type, v, path+"."+name)...)
		}
		return out
	}
	return nil
}

// TestHeaderDocumentsJSON holds vnet.h's comments, which C and Swift
// authors read, to the golden files: vnet_start's config lists exactly the
// keys of config.golden.json, and every key the other functions' comments
// quote is a key of their golden file.
func TestHeaderDocumentsJSON(t *testing.T) {
	h, err := os.ReadFile("vnet.h")
	if err != nil {
		t.Fatal(err)
	}
	// doc is the comment right before fn's declaration.
	doc := func(fn string) string {
		i := strings.Index(string(h), " "+fn+"(")
		j := strings.LastIndex(string(h[:max(i, 0)]), "/*")
		if i < 0 || j < 0 {
			t.Fatalf("vnet.h: no comment before %s", fn)
		}
		return string(h[j:i])
	}
	cases := []struct {
		fn, golden string
		key        *regexp.Regexp
		exact      bool // every key of the golden file is documented too
	}{
		{"vnet_start", "config", regexp.MustCompile(`"(\w+)":`), true},
		{"vnet_status", "status", regexp.MustCompile(`"([a-z_]+)"`), false},
		{"vnet_diagnose", "diagnosis", regexp.MustCompile(`"([a-z_]+)"`), false},
		{"vnet_profiles", "profiles", regexp.MustCompile(`"([a-z_]+)"`), false},
	}
	for _, c := range cases {
		t.Run(c.fn, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", c.golden+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			var tree any
			if err := json.Unmarshal(data, &tree); err != nil {
				t.Fatal(err)
			}
			keys := map[string]bool{}
			allKeys(tree, keys, !c.exact)
			documented := map[string]bool{}
			for _, m := range c.key.FindAllStringSubmatch(doc(c.fn), -1) {
				documented[m[1]] = true
				if !keys[m[1]] {
					t.Errorf("vnet.h documents %q for %s, but %s.golden.json has no such key", m[1], c.fn, c.golden)
				}
			}
			for k := range keys {
				if c.exact && !documented[k] {
					t.Errorf("%s.golden.json has %q, but vnet.h does not document it for %s", c.golden, k, c.fn)
				}
			}
		})
	}
}

// allKeys adds the keys of the objects in tree to keys: the top level's
// only, or with deep those of every object in it.
func allKeys(tree any, keys map[string]bool, deep bool) {
	switch v := tree.(type) {
	case map[string]any:
		for k, x := range v {
			keys[k] = true
			if deep {
				allKeys(x, keys, deep)
			}
		}
	case []any:
		for _, x := range v {
			allKeys(x, keys, deep)
		}
	}
}
