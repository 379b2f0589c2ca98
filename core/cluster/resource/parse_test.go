package resource

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// vnetConfigYAML returns a vnet_config document with the given spec body
// (already indented by two spaces).
func vnetConfigYAML(spec string) string {
	return "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n" + spec
}

// appYAML returns an app document named tcp-app with the given spec body.
func appYAML(spec string) string {
	return "kind: app\nversion: v1\nmetadata:\n  name: tcp-app\nspec:\n" + spec
}

func vnetConfig(rng string, zones ...string) *VNetConfig {
	c := DefaultVNetConfig()
	c.Spec.IPv4CIDRRange = rng
	for _, z := range zones {
		c.Spec.CustomDNSZones = append(c.Spec.CustomDNSZones, DNSZone{Suffix: z})
	}
	return c
}

// aliasBomb returns a small vnet_config whose zones, merged through
// aliases, expand to 2^n mappings.
func aliasBomb(n int) string {
	var b strings.Builder
	b.WriteString(vnetConfigYAML("  custom_dns_zones:\n  - &z0 {suffix: a.test}\n"))
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - &z%d {<<: [*z%d, *z%d]}\n", i, i-1, i-1)
	}
	return b.String()
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Resource
	}{
		{
			name: "vnet_config without spec gets the default range",
			in:   "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\n",
			want: vnetConfig(DefaultIPv4CIDRRange),
		},
		{
			name: "vnet_config with an empty range gets the default",
			in:   vnetConfigYAML("  ipv4_cidr_range: \"\"\n"),
			want: vnetConfig(DefaultIPv4CIDRRange),
		},
		{
			name: "vnet_config from the guide",
			in:   vnetConfigYAML("  ipv4_cidr_range: \"100.64.0.0/10\"\n  custom_dns_zones:\n    - suffix: company.test\n"),
			want: vnetConfig("100.64.0.0/10", "company.test"),
		},
		{
			name: "a /24 is large enough",
			in:   vnetConfigYAML("  ipv4_cidr_range: 10.10.0.0/24\n"),
			want: vnetConfig("10.10.0.0/24"),
		},
		{
			name: "a /8 is not too large",
			in:   vnetConfigYAML("  ipv4_cidr_range: 10.0.0.0/8\n"),
			want: vnetConfig("10.0.0.0/8"),
		},
		{
			name: "zones are lower-cased and lose the trailing dot",
			in:   vnetConfigYAML("  custom_dns_zones:\n  - suffix: Company.Test\n  - suffix: other.example.\n  - suffix: deep.sub.company.test\n  - suffix: xn--bcher-kva.test\n"),
			want: vnetConfig(DefaultIPv4CIDRRange, "company.test", "other.example", "deep.sub.company.test", "xn--bcher-kva.test"),
		},
		{
			name: "empty zone list",
			in:   vnetConfigYAML("  custom_dns_zones: []\n"),
			want: vnetConfig(DefaultIPv4CIDRRange),
		},
		{
			name: "JSON",
			in:   "{\n\t\"kind\": \"vnet_config\",\n\t\"version\": \"v1\",\n\t\"metadata\": {\"name\": \"vnet-config\"},\n\t\"spec\": {\"ipv4_cidr_range\": \"10.1.0.0/16\", \"custom_dns_zones\": [{\"suffix\": \"company.test\"}]}\n}\n",
			want: vnetConfig("10.1.0.0/16", "company.test"),
		},
		{
			name: "document markers and comments around the resource",
			in:   "# made by hand\n---\n" + vnetConfigYAML("  custom_dns_zones: [{suffix: company.test}] # the lab\n") + "---\n",
			want: vnetConfig(DefaultIPv4CIDRRange, "company.test"),
		},
		{
			name: "app with every field",
			in:   "kind: app\nversion: v1\nmetadata:\n  name: tcp-app\n  labels:\n    env: dev\n    team: db\nspec:\n  uri: tcp://localhost:5432\n  public_addr: TCP-App.Company.Test.\n",
			want: &App{
				Header: Header{KindField: KindApp, Version: V1, Metadata: Metadata{Name: "tcp-app", Labels: map[string]string{"env": "dev", "team": "db"}}},
				Spec:   AppSpec{URI: "tcp://localhost:5432", PublicAddr: "tcp-app.company.test"},
			},
		},
		{
			name: "app without public_addr, IPv6 host, trailing slash",
			in:   appYAML("  uri: tcp://[::1]:6379/\n"),
			want: NewApp("tcp-app", "tcp://[::1]:6379/", "", nil),
		},
		{
			name: "app with a single-label public_addr and highest port",
			in:   appYAML("  uri: tcp://db.internal:65535\n  public_addr: postgres\n"),
			want: NewApp("tcp-app", "tcp://db.internal:65535", "postgres", nil),
		},
		{
			name: "names may hold digits, '-', '_' and '.'",
			in:   "kind: app\nversion: v1\nmetadata: {name: 0db_main-1.eu}\nspec: {uri: \"tcp://10.0.0.5:1\"}\n",
			want: NewApp("0db_main-1.eu", "tcp://10.0.0.5:1", "", nil),
		},
		{
			name: "anchors and merge keys",
			in:   "kind: app\nversion: v1\nmetadata:\n  name: tcp-app\n  labels: &l {env: dev}\nspec:\n  <<: {uri: \"tcp://h:1\"}\n",
			want: &App{
				Header: Header{KindField: KindApp, Version: V1, Metadata: Metadata{Name: "tcp-app", Labels: map[string]string{"env": "dev"}}},
				Spec:   AppSpec{URI: "tcp://h:1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantParsed(t, tt.in, tt.want) })
	}
}

// wantParsed checks that Parse(in) is want.
func wantParsed(t *testing.T, in string, want Resource) {
	t.Helper()
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%#v\nwant\n%#v", got, want)
	}
}

func TestParseInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		in     string
		prefix string   // the kind/name/field start of the message
		want   []string // further parts of the message
	}{
		// The document as a whole.
		{name: "empty", in: "", prefix: "empty document"},
		{name: "only comments", in: "# nothing\n", prefix: "empty document"},
		{name: "not a mapping", in: "- kind: app\n", prefix: "expected a resource with kind, version, metadata and spec, got a list"},
		{name: "scalar", in: "hello\n", prefix: "expected a resource", want: []string{`"hello"`}},
		{name: "bad YAML", in: "kind: app\n\tversion: v1\n", prefix: "invalid YAML: line 2:"},
		{name: "unclosed flow", in: "{kind: app", prefix: "invalid YAML:"},
		{name: "two documents", in: appYAML("  uri: tcp://h:1\n") + "---\n" + appYAML("  uri: tcp://h:2\n"), prefix: "more than one YAML document"},
		{name: "alias bomb", in: aliasBomb(40), prefix: `vnet_config "vnet-config": document too large`},
		{name: "too large", in: "kind: app\n#" + strings.Repeat("x", MaxSize), prefix: "resource is", want: []string{"more than the limit"}},

		// kind, version, metadata.
		{name: "kind missing", in: "version: v1\nmetadata: {name: x}\n", prefix: "kind: required (one of app, remote_cluster, role, trusted_cluster, user, vnet_config)"},
		{name: "kind empty", in: "kind: \"\"\n", prefix: "kind: required"},
		{name: "kind unknown", in: "kind: widget\nversion: v1\n", prefix: `kind: unknown kind "widget" (one of app, remote_cluster, role, trusted_cluster, user, vnet_config)`},
		{name: "kind wrong case", in: "kind: App\n", prefix: `kind: unknown kind "App"`},
		{name: "kind a list", in: "kind: [app]\n", prefix: "kind: expected a string, got a list"},
		{name: "version missing", in: "kind: app\nmetadata: {name: tcp-app}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app "tcp-app": version: required (use v1)`},
		{name: "version v2", in: "kind: app\nversion: v2\nmetadata: {name: tcp-app}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app "tcp-app": version: "v2" is not supported (use v1)`},
		{name: "name missing", in: "kind: app\nversion: v1\nspec: {uri: \"tcp://h:1\"}\n", prefix: "app: metadata.name: required"},
		{name: "name empty", in: "kind: app\nversion: v1\nmetadata: {name: \"\"}\nspec: {uri: \"tcp://h:1\"}\n", prefix: "app: metadata.name: required"},
		{name: "name upper-case", in: "kind: app\nversion: v1\nmetadata: {name: Tcp-App}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app: metadata.name: "Tcp-App" contains 'T'`},
		{name: "name with a space", in: "kind: app\nversion: v1\nmetadata: {name: tcp app}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app: metadata.name: "tcp app" contains ' '`},
		{name: "name starts with a dot", in: "kind: app\nversion: v1\nmetadata: {name: .hidden}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app: metadata.name: ".hidden" starts with '.'`},
		{name: "name too long", in: "kind: app\nversion: v1\nmetadata: {name: " + long(254) + "}\nspec: {uri: \"tcp://h:1\"}\n", prefix: "app: metadata.name:", want: []string{"too long"}},
		{name: "name a mapping", in: "kind: app\nversion: v1\nmetadata: {name: {a: b}}\n", prefix: "app: metadata.name: expected a single value, got a mapping"},
		{name: "label value empty", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, labels: {env: \"\"}}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app "tcp-app": metadata.labels["env"]: empty value`},
		{name: "label value null", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, labels: {env: }}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app "tcp-app": metadata.labels["env"]: empty value`},
		{name: "label key empty", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, labels: {\"\": dev}}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app "tcp-app": metadata.labels: a label has an empty key`},
		{name: "label key with a space", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, labels: {\"my env\": dev}}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app "tcp-app": metadata.labels["my env"]: the key contains ' '`},
		{name: "label value with a newline", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, labels: {env: \"a\\nb\"}}\nspec: {uri: \"tcp://h:1\"}\n", prefix: `app "tcp-app": metadata.labels["env"]: the value contains the control character '\n'`},
		{name: "label value a list", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, labels: {env: [a]}}\n", prefix: `app "tcp-app": metadata.labels["env"]: expected a single value, got a list`},
		{name: "labels a list", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, labels: [env]}\n", prefix: `app "tcp-app": metadata.labels: expected a mapping, got a list`},
		{name: "duplicate key", in: "kind: app\nversion: v1\nmetadata:\n  name: tcp-app\n  name: other\n", prefix: `app "tcp-app": metadata.name: defined twice (lines 4 and 5)`},

		// Unknown fields, by path.
		{name: "unknown top-level field", in: vnetConfigYAML("  ipv4_cidr_range: 10.0.0.0/16\n") + "specs: {}\n", prefix: `vnet_config "vnet-config": specs: unknown field (known: kind, metadata, spec, version)`},
		{name: "unknown metadata field", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app, namespace: x}\n", prefix: `app "tcp-app": metadata.namespace: unknown field (known: labels, name, origin)`},
		{name: "unknown spec field", in: vnetConfigYAML("  ipv4_cidr: 10.0.0.0/16\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr: unknown field (known: custom_dns_zones, ipv4_cidr_range)`},
		{name: "unknown zone field", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: a.test\n  - sufix: b.test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[1].sufix: unknown field (known: suffix)`},
		{name: "unknown field in a merge", in: appYAML("  <<: {uri: \"tcp://h:1\", port: 5}\n"), prefix: `app "tcp-app": spec.port: unknown field`},
		{name: "odd field name is quoted", in: appYAML("  \"a b\": 1\n"), prefix: `app "tcp-app": spec."a b": unknown field`},
		{name: "spec a scalar", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app}\nspec: tcp://h:1\n", prefix: `app "tcp-app": spec: expected a mapping, got "tcp://h:1"`},
		{name: "zones a mapping", in: vnetConfigYAML("  custom_dns_zones: {suffix: a.test}\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones: expected a list, got a mapping`},
		{name: "range a list", in: vnetConfigYAML("  ipv4_cidr_range: [10.0.0.0/8]\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: expected a single value, got a list`},

		// vnet_config.
		{name: "vnet_config name", in: "kind: vnet_config\nversion: v1\nmetadata: {name: my-config}\n", prefix: `vnet_config "my-config": metadata.name: must be "vnet-config"`},
		{name: "range /33", in: vnetConfigYAML("  ipv4_cidr_range: 10.0.0.0/33\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "10.0.0.0/33" is not a valid CIDR range`},
		{name: "range garbage", in: vnetConfigYAML("  ipv4_cidr_range: lots\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "lots" is not a valid CIDR range`},
		{name: "range without length", in: vnetConfigYAML("  ipv4_cidr_range: 100.64.0.0\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "100.64.0.0" is not a valid CIDR range`},
		{name: "range IPv6", in: vnetConfigYAML("  ipv4_cidr_range: fd00::/64\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "fd00::/64" is an IPv6 range: IPv4 only`},
		{name: "range IPv4-mapped IPv6", in: vnetConfigYAML("  ipv4_cidr_range: \"::ffff:100.64.0.0/106\"\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "::ffff:100.64.0.0/106" is an IPv6 range: IPv4 only`},
		{name: "range not masked", in: vnetConfigYAML("  ipv4_cidr_range: 100.64.0.5/10\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "100.64.0.5/10" has host bits set: the network address is 100.64.0.0/10`},
		{name: "range /25", in: vnetConfigYAML("  ipv4_cidr_range: 10.0.0.0/25\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "10.0.0.0/25" is too small: it must have at least 8 host bits (/24 or larger)`},
		{name: "range /32", in: vnetConfigYAML("  ipv4_cidr_range: 10.0.0.1/32\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "10.0.0.1/32" is too small`},
		{name: "range /7", in: vnetConfigYAML("  ipv4_cidr_range: 10.0.0.0/7\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "10.0.0.0/7" is too large: it must be /8 or smaller`},
		{name: "range everything", in: vnetConfigYAML("  ipv4_cidr_range: 0.0.0.0/0\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "0.0.0.0/0" is too large`},
		{name: "range loopback", in: vnetConfigYAML("  ipv4_cidr_range: 127.0.0.0/16\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "127.0.0.0/16" overlaps 127.0.0.0/8 (loopback)`},
		{name: "range multicast", in: vnetConfigYAML("  ipv4_cidr_range: 239.0.0.0/8\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "239.0.0.0/8" overlaps 224.0.0.0/4 (multicast)`},
		{name: "range link-local", in: vnetConfigYAML("  ipv4_cidr_range: 169.254.0.0/24\n"), prefix: `vnet_config "vnet-config": spec.ipv4_cidr_range: "169.254.0.0/24" overlaps 169.254.0.0/16 (link-local)`},
		{name: "zone suffix missing", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: \"\"\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: required`},
		{name: "zone suffix null", in: vnetConfigYAML("  custom_dns_zones:\n  - {}\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: required`},
		{name: "zone wildcard", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: \"*.company.test\"\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "*.company.test" is a wildcard: a zone already matches every name below it, use "company.test"`},
		{name: "zone inner wildcard", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: \"a*.company.test\"\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "a*.company.test" contains a wildcard`},
		{name: "zone single label", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: company.test\n  - suffix: Test.\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[1].suffix: "Test." is a single label: a zone needs at least two`, want: []string{"top-level domain"}},
		{name: "zone empty label", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: company..test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "company..test" has an empty label`},
		{name: "zone leading dot", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: .company.test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: ".company.test" has an empty label`},
		{name: "zone only a dot", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: .\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "." is empty`},
		{name: "zone hyphen at label start", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: -company.test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "-company.test" has a label "-company" that starts or ends with '-'`},
		{name: "zone underscore", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: my_company.test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "my_company.test" contains '_'`},
		{name: "zone space", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: my company.test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "my company.test" contains ' '`},
		{name: "zone non-ASCII", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: bücher.test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "bücher.test" contains 'ü'`, want: []string{"punycode"}},
		{name: "zone Kelvin sign is not a k", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: \"\u212aompany.test\"\n"), prefix: "vnet_config \"vnet-config\": spec.custom_dns_zones[0].suffix: \"\u212aompany.test\" contains '\u212a'"},
		{name: "zone label too long", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: " + long(64) + ".test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix:`, want: []string{"label longer than 63"}},
		{name: "zone name too long", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: " + strings.Repeat(long(49)+".", 5) + "test\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix:`, want: []string{"too long (254 characters, at most 253)"}},
		{name: "zone IP address", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: 10.0.0.1\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "10.0.0.1" is an IP address`},
		{name: "zone numeric TLD", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: company.123\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[0].suffix: "company.123" ends with the all-numeric label "123"`},
		{name: "zone duplicate after normalisation", in: vnetConfigYAML("  custom_dns_zones:\n  - suffix: company.test\n  - suffix: other.test\n  - suffix: Company.Test.\n"), prefix: `vnet_config "vnet-config": spec.custom_dns_zones[2].suffix: "Company.Test." is listed twice (also custom_dns_zones[0])`},

		// app.
		{name: "app without spec", in: "kind: app\nversion: v1\nmetadata: {name: tcp-app}\n", prefix: `app "tcp-app": spec.uri: required (e.g. tcp://localhost:5432)`},
		{name: "uri without scheme", in: appYAML("  uri: localhost:5432\n"), prefix: `app "tcp-app": spec.uri: "localhost:5432" has no scheme: use tcp://host:port`},
		{name: "uri http", in: appYAML("  uri: http://localhost:8080\n"), prefix: `app "tcp-app": spec.uri: "http://localhost:8080" has scheme "http": only tcp:// apps are reachable through VNet`},
		{name: "uri https", in: appYAML("  uri: https://grafana.internal\n"), prefix: `app "tcp-app": spec.uri:`, want: []string{"only tcp:// apps are reachable through VNet"}},
		{name: "uri without port", in: appYAML("  uri: tcp://localhost\n"), prefix: `app "tcp-app": spec.uri: "tcp://localhost" has no port`},
		{name: "uri without host", in: appYAML("  uri: tcp://:5432\n"), prefix: `app "tcp-app": spec.uri: "tcp://:5432" has no host`},
		{name: "uri port 0", in: appYAML("  uri: tcp://localhost:0\n"), prefix: `app "tcp-app": spec.uri: "tcp://localhost:0" has port 0, which is not in 1-65535`},
		{name: "uri port 65536", in: appYAML("  uri: tcp://localhost:65536\n"), prefix: `app "tcp-app": spec.uri: "tcp://localhost:65536" has port 65536, which is not in 1-65535`},
		{name: "uri port not a number", in: appYAML("  uri: tcp://localhost:pg\n"), prefix: `app "tcp-app": spec.uri: "tcp://localhost:pg" is not a valid URL`},
		{name: "uri with user info", in: appYAML("  uri: tcp://postgres:secret@localhost:5432\n"), prefix: `app "tcp-app": spec.uri:`, want: []string{"has user info"}},
		{name: "uri with path", in: appYAML("  uri: tcp://localhost:5432/db\n"), prefix: `app "tcp-app": spec.uri: "tcp://localhost:5432/db" has a path, query or fragment`},
		{name: "uri with query", in: appYAML("  uri: tcp://localhost:5432?sslmode=disable\n"), prefix: `app "tcp-app": spec.uri:`, want: []string{"has a path, query or fragment"}},
		{name: "uri a number", in: appYAML("  uri: 5432\n"), prefix: `app "tcp-app": spec.uri: "5432" has no scheme`},
		{name: "public_addr with scheme", in: appYAML("  uri: tcp://h:1\n  public_addr: tcp://tcp-app.company.test\n"), prefix: `app "tcp-app": spec.public_addr: "tcp://tcp-app.company.test" has a scheme`},
		{name: "public_addr with port", in: appYAML("  uri: tcp://h:1\n  public_addr: tcp-app.company.test:5432\n"), prefix: `app "tcp-app": spec.public_addr: "tcp-app.company.test:5432" has a port`},
		{name: "public_addr IPv4", in: appYAML("  uri: tcp://h:1\n  public_addr: 10.0.0.1\n"), prefix: `app "tcp-app": spec.public_addr: "10.0.0.1" is an IP address`},
		{name: "public_addr IPv6", in: appYAML("  uri: tcp://h:1\n  public_addr: \"fd00::1\"\n"), prefix: `app "tcp-app": spec.public_addr: "fd00::1" is an IP address`},
		{name: "public_addr with path", in: appYAML("  uri: tcp://h:1\n  public_addr: tcp-app.company.test/x\n"), prefix: `app "tcp-app": spec.public_addr: "tcp-app.company.test/x" has a path`},
		{name: "public_addr wildcard", in: appYAML("  uri: tcp://h:1\n  public_addr: \"*.company.test\"\n"), prefix: `app "tcp-app": spec.public_addr: "*.company.test" contains a wildcard`},
		{name: "public_addr empty label", in: appYAML("  uri: tcp://h:1\n  public_addr: tcp-app..company.test\n"), prefix: `app "tcp-app": spec.public_addr: "tcp-app..company.test" has an empty label`},
		{name: "public_addr underscore", in: appYAML("  uri: tcp://h:1\n  public_addr: tcp_app.company.test\n"), prefix: `app "tcp-app": spec.public_addr: "tcp_app.company.test" contains '_'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %#v", r)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.prefix) {
				t.Errorf("error %q\ndoes not start with %q", msg, tt.prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Errorf("error %T is not a *ValidationError", err)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    Resource
	}{
		{name: "default vnet_config", r: DefaultVNetConfig()},
		{name: "vnet_config with zones", r: vnetConfig("10.64.0.0/16", "company.test", "other.example")},
		{name: "app", r: NewApp("tcp-app", "tcp://localhost:5432", "tcp-app.company.test", map[string]string{"env": "dev"})},
		{
			name: "app with labels that look like other YAML types",
			r: &App{
				Header: Header{Version: V1, Metadata: Metadata{Name: "redis", Labels: map[string]string{"env": "yes", "tier": "1", "null": "~", "k:v": "#x", "teleport.dev/origin": " spaced value: with colon "}}},
				Spec:   AppSpec{URI: "tcp://[fd00::5]:6379"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Marshal(tt.r)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !strings.HasPrefix(string(out), "kind: "+tt.r.Kind()+"\nversion: v1\nmetadata:\n") {
				t.Errorf("Marshal output does not start with kind, version, metadata:\n%s", out)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(Marshal(r)): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, tt.r) {
				t.Errorf("round trip changed the resource:\n got %#v\nwant %#v\nYAML:\n%s", back, tt.r, out)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		r    Resource
		want string
	}{
		{name: "nil", r: nil, want: "nil resource"},
		{name: "typed nil", r: (*App)(nil), want: "nil resource"},
		{name: "invalid app", r: NewApp("tcp-app", "http://x:1", "", nil), want: `app "tcp-app": spec.uri:`},
		{name: "no version", r: &VNetConfig{Header: Header{Metadata: Metadata{Name: VNetConfigName}}}, want: `vnet_config "vnet-config": version: required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Marshal(tt.r)
			if err == nil {
				t.Fatalf("Marshal succeeded:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestCheckAndSetDefaults(t *testing.T) {
	t.Run("sets kind and normalises", func(t *testing.T) {
		a := &App{Header: Header{Version: V1, Metadata: Metadata{Name: "tcp-app", Labels: map[string]string{}}}, Spec: AppSpec{URI: "tcp://h:1", PublicAddr: "A.B."}}
		if err := a.CheckAndSetDefaults(); err != nil {
			t.Fatal(err)
		}
		if a.KindField != KindApp || a.Spec.PublicAddr != "a.b" || a.Metadata.Labels != nil {
			t.Errorf("after CheckAndSetDefaults: %#v", a)
		}
	})
	t.Run("kind field must match the type", func(t *testing.T) {
		c := DefaultVNetConfig()
		c.KindField = KindApp
		err := c.CheckAndSetDefaults()
		if err == nil || !strings.HasPrefix(err.Error(), `vnet_config "vnet-config": kind: "app" does not match`) {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("range is stored in canonical form", func(t *testing.T) {
		c := vnetConfig("10.20.0.0/16")
		if err := c.CheckAndSetDefaults(); err != nil {
			t.Fatal(err)
		}
		if got := c.Spec.IPv4Prefix().String(); got != "10.20.0.0/16" {
			t.Errorf("IPv4Prefix = %s", got)
		}
	})
	t.Run("default config is valid", func(t *testing.T) {
		c := DefaultVNetConfig()
		if err := c.CheckAndSetDefaults(); err != nil {
			t.Fatal(err)
		}
		if c.Name() != "vnet-config" || c.Version != "v1" || c.Spec.IPv4CIDRRange != "100.64.0.0/10" || c.Spec.CustomDNSZones != nil {
			t.Errorf("DefaultVNetConfig = %#v", c)
		}
	})
	t.Run("dial address", func(t *testing.T) {
		s := AppSpec{URI: "tcp://[::1]:5432"}
		if got := s.DialAddr(); got != "[::1]:5432" {
			t.Errorf("DialAddr = %q", got)
		}
	})
}

func TestKinds(t *testing.T) {
	for _, k := range []string{"", "roles", "App", "vnet-config"} {
		if IsKind(k) {
			t.Errorf("IsKind(%q) = true", k)
		}
	}
	got := Kinds()
	if want := []string{"app", "remote_cluster", "role", "trusted_cluster", "user", "vnet_config"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Kinds = %v, want %v", got, want)
	}
	for _, k := range got {
		if !IsKind(k) {
			t.Errorf("IsKind(%q) = false", k)
		}
		if r := kinds[k](); r.Kind() != k {
			t.Errorf("kinds[%q]() has Kind %q", k, r.Kind())
		}
	}
}
