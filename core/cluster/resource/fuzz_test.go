package resource

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are one line
// and match ErrInvalid, and that whatever it accepts survives Marshal and
// Parse unchanged.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"---\n",
		"[]",
		"kind: app\n",
		vnetConfigYAML("  ipv4_cidr_range: 100.64.0.0/10\n  custom_dns_zones:\n  - suffix: company.test\n"),
		vnetConfigYAML("  ipv4_cidr_range: 100.64.0.5/10\n"),
		vnetConfigYAML("  custom_dns_zones:\n  - suffix: Company.Test.\n  - suffix: company.test\n"),
		appYAML("  uri: tcp://localhost:5432\n  public_addr: tcp-app.company.test\n"),
		appYAML("  uri: http://localhost\n"),
		"kind: app\nversion: v1\nmetadata: &m {name: a, labels: {x: y}}\nspec: {<<: *m}\n",
		"{\"kind\":\"app\",\"version\":\"v1\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"uri\":\"tcp://h:1\"}}",
		"a: &a [*a]\n",
		"kind: app\nversion: v1\nmetadata:\n  name: x\n  labels: {\"\\n\": \"\\n\"}\nspec: {uri: \"tcp://h:1\"}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		out, err := Marshal(r)
		if err != nil {
			t.Fatalf("Marshal of a parsed resource: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(r)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip changed the resource:\n got %#v\nwant %#v", back, r)
		}
		// What a cluster stored reads the same through ParseStored.
		if stored, err := ParseStored(out); err != nil || !reflect.DeepEqual(stored, r) {
			t.Fatalf("ParseStored(Marshal(r)) = %#v, %v; want %#v", stored, err, r)
		}
	})
}
