package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseStartConfig feeds vnet_start's JSON parser anything: it must
// never panic; what it refuses gets an error that keeps vnet.h's promises
// (one line starting "config: ", no NUL, no Go names, bounded), and what
// it accepts is within the documented ranges. The seeds (f.Add and
// testdata/fuzz/FuzzParseStartConfig) run in every go test; "@DIR@"
// stands for a real profile folder, "@RESOLV@" for a real resolv.conf.
func FuzzParseStartConfig(f *testing.F) {
	dir := f.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{"profile_dir": "@DIR@", "upstream_dns": ["192.0.2.1", "[2001:db8::1]:53"]}`,
		`{"profile_dir": "@DIR@", "resolv_conf": "@RESOLV@", "mtu": 1280, "log_level": "debug", "ipv6": false, "start_timeout_ms": 2500}`,
		`{"profile_dir": "@DIR@", "upstream_dns": ["192.0.2.1"], "mtu": null, "start_timeout_ms": null}`,
		`{"profile_dir": "@DIR@", "upstream_dns": ["192.0.2.1"], "mtu": 0}`,
		`{"profile_dir": "@DIR@", "upstream_dns": ["192.0.2.1"], "start_timeout_ms": 9223372036854775807}`,
		`{"profile_dir": "@DIR@", "upstream_dns": ["192.0.2.1"], "MTU": 1500}`,
		`{"profile_dir": "@DIR@", "profile_dir": "/", "upstream_dns": ["192.0.2.1"]}`,
		`{"profile_dir": "@DIR@", "upstream_dns": ["192.0.2.1"]}]`,
		`{"profile_dir": "@DIR@\u0000x", "upstream_dns": ["192.0.2.1"]}`,
		`{"profile_dir": "@DIR@", "resolv_conf": "/dev/null"}`,
		`{"profile_dir": "@DIR@", "upstream_dns": [1, {"a": 1, "a": 2}]}`,
		`[]`, `null`, `{`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.ReplaceAll(data, []byte("@DIR@"), []byte(dir))
		data = bytes.ReplaceAll(data, []byte("@RESOLV@"), []byte(resolv))
		o, err := parseStartConfig(data, time.Now())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q does not start with config: ", err)
			}
			checkErrorText(t, err.Error())
			return
		}
		if keys := topKeys(t, data); len(keys) != len(slices.Compact(slices.Sorted(slices.Values(keys)))) {
			t.Errorf("accepted a field given twice: %q", keys)
		} else {
			for _, k := range keys {
				if _, ok := configFields[k]; !ok {
					t.Errorf("accepted the field %q", k)
				}
			}
		}
		switch {
		case o.profileDir == "" || len(o.upstream) == 0:
			t.Errorf("accepted without a profile_dir or upstream: %+v", o)
		case o.mtu < 1280 || o.mtu > 65535:
			t.Errorf("accepted mtu %d", o.mtu)
		case o.startTimeout < time.Millisecond || o.startTimeout > maxStartTimeoutMS*time.Millisecond:
			t.Errorf("accepted start timeout %s", o.startTimeout)
		}
	})
}

// topKeys are the field names of the JSON object data, in order, as
// given: the fuzz target's own reading, to check the parser's.
func topKeys(t *testing.T, data []byte) []string {
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatalf("accepted JSON that does not start an object: %v", err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
