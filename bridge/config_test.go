package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStartConfig(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	resolv := filepath.Join(dir, "resolv.conf")
	emptyResolv := filepath.Join(dir, "empty.conf")
	os.WriteFile(file, nil, 0o600)
	os.WriteFile(resolv, []byte("# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o600)
	os.WriteFile(emptyResolv, []byte("search example.test\n"), 0o600)
	// A valid resolv.conf one byte over the limit: read whole, it would
	// give a server.
	bigResolv := filepath.Join(dir, "big.conf")
	os.WriteFile(bigResolv, append([]byte("nameserver 192.0.2.53\n"), bytes.Repeat([]byte("#"), maxResolvConf-21)...), 0o600)
	q := func(s string) string { return `"` + s + `"` }
	up := `, "upstream_dns": ["192.0.2.1"]`
	long := strings.Repeat("x", 10000)

	for _, tc := range []struct {
		name    string
		json    string
		wantErr string // substring; empty: must parse
		check   func(t *testing.T, o *startOptions)
	}{
		{
			name: "defaults with explicit upstream",
			json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1", "192.0.2.2:5353", "2001:db8::1", "[2001:db8::2]:54"]}`,
			check: func(t *testing.T, o *startOptions) {
				want := []netip.AddrPort{
					netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("192.0.2.2:5353"),
					netip.MustParseAddrPort("[2001:db8::1]:53"), netip.MustParseAddrPort("[2001:db8::2]:54"),
				}
				if !slices.Equal(o.upstream, want) || o.mtu != defaultMTU || o.startTimeout != defaultStartTimeout || o.profileDir != dir || !o.deadline.Equal(now.Add(defaultStartTimeout)) {
					t.Errorf("got %+v", o)
				}
			},
		},
		{
			name: "upstream from resolv_conf, all fields",
			json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(resolv) + `, "mtu": 1280, "log_level": "debug", "start_timeout_ms": 2500}`,
			check: func(t *testing.T, o *startOptions) {
				want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[2001:db8::53]:53")}
				if !slices.Equal(o.upstream, want) || o.mtu != 1280 || o.logLevel.String() != "DEBUG" || o.startTimeout != 2500*time.Millisecond {
					t.Errorf("got %+v", o)
				}
			},
		},
		{
			name: "null is a field left out",
			json: `{"profile_dir": ` + q(dir) + up + `, "mtu": null, "start_timeout_ms": null, "ipv6": null, "log_level": null}`,
			check: func(t *testing.T, o *startOptions) {
				if o.mtu != defaultMTU || o.startTimeout != defaultStartTimeout || !o.ipv6 || o.logLevel.String() != "INFO" {
					t.Errorf("got %+v", o)
				}
			},
		},
		{
			name: "the longest start timeout",
			json: `{"profile_dir": ` + q(dir) + up + `, "start_timeout_ms": 600000}`,
			check: func(t *testing.T, o *startOptions) {
				if o.startTimeout != 10*time.Minute {
					t.Errorf("start timeout %s", o.startTimeout)
				}
			},
		},
		{name: "not JSON", json: `profile_dir=/x`, wantErr: "config: not JSON at byte 1: invalid character"},
		{name: "empty", json: ``, wantErr: "config: the JSON ends early"},
		{name: "cut short", json: `{"profile_dir": ` + q(dir), wantErr: "config: the JSON ends early"},
		{name: "not an object", json: `["profile_dir"]`, wantErr: "config: want a JSON object"},
		{name: "trailing data", json: `{"profile_dir": ` + q(dir) + up + `} {}`, wantErr: "trailing data"},
		{name: "trailing bracket", json: `{"profile_dir": ` + q(dir) + up + `}]`, wantErr: "config: "},
		{name: "trailing garbage", json: `{"profile_dir": ` + q(dir) + up + `}x`, wantErr: "config: "},
		{name: "unknown field", json: `{"profile_dir": ` + q(dir) + `, "upstream": ["192.0.2.1"]}`, wantErr: `unknown field "upstream"`},
		{name: "field name in another case", json: `{"Profile_Dir": ` + q(dir) + up + `}`, wantErr: `unknown field "Profile_Dir": did you mean "profile_dir"?`},
		{name: "MTU in capitals", json: `{"profile_dir": ` + q(dir) + up + `, "MTU": 1280}`, wantErr: `unknown field "MTU"`},
		{name: "field given twice", json: `{"profile_dir": ` + q(dir) + up + `, "mtu": 1280, "mtu": 1500}`, wantErr: `field "mtu" is given twice`},
		{name: "profile_dir given twice", json: `{"profile_dir": "/nope", "profile_dir": ` + q(dir) + up + `}`, wantErr: `field "profile_dir" is given twice`},
		{name: "long unknown field is cut", json: `{"` + long + `": 1}`, wantErr: `unknown field "xxxxxxxx`},
		{name: "wrong type", json: `{"profile_dir": ` + q(dir) + `, "mtu": "big"}`, wantErr: "config: mtu: want a whole number, not string"},
		{name: "fraction", json: `{"profile_dir": ` + q(dir) + up + `, "mtu": 1500.5}`, wantErr: "config: mtu: want a whole number, not number 1500.5"},
		{name: "wrong element type", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": [1]}`, wantErr: "config: upstream_dns: want an array of strings, not number"},
		{name: "ipv6 not a bool", json: `{"profile_dir": ` + q(dir) + up + `, "ipv6": "yes"}`, wantErr: "config: ipv6: want true or false, not string"},
		{name: "mtu 0", json: `{"profile_dir": ` + q(dir) + up + `, "mtu": 0}`, wantErr: "config: mtu 0: at least 1280"},
		{name: "timeout 0", json: `{"profile_dir": ` + q(dir) + up + `, "start_timeout_ms": 0}`, wantErr: "config: start_timeout_ms 0: want a whole number from 1 to 600000"},
		{name: "timeout over the limit", json: `{"profile_dir": ` + q(dir) + up + `, "start_timeout_ms": 600001}`, wantErr: "start_timeout_ms 600001: want a whole number from 1 to 600000"},
		// time.Duration(ms) * time.Millisecond overflowed to a negative timeout.
		{name: "timeout that overflowed", json: `{"profile_dir": ` + q(dir) + up + `, "start_timeout_ms": 9223372036854775}`, wantErr: "start_timeout_ms 9223372036854775: want"},
		{name: "timeout beyond int64", json: `{"profile_dir": ` + q(dir) + up + `, "start_timeout_ms": 1e30}`, wantErr: "config: start_timeout_ms: want a whole number from 1 to 600000, not number 1e30"},
		{name: "NUL in profile_dir", json: `{"profile_dir": "/tmp/a\u0000b"` + up + `}`, wantErr: `config: profile_dir "/tmp/a\x00b": invalid argument`},
		{name: "long profile_dir is cut", json: `{"profile_dir": ` + q("/"+long) + up + `}`, wantErr: `config: profile_dir "/xxxxxxxx`},
		{name: "no profile_dir", json: `{"upstream_dns": ["192.0.2.1"]}`, wantErr: "profile_dir is required"},
		{name: "missing profile_dir", json: `{"profile_dir": ` + q(filepath.Join(dir, "nope")) + `}`, wantErr: "no such file"},
		{name: "profile_dir is a file", json: `{"profile_dir": ` + q(file) + `}`, wantErr: "is not a directory"},
		{name: "mtu too small", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "mtu": 100}`, wantErr: "mtu 100: at least 1280 (IPv6 needs it)"},
		// The bridge takes 576, the netstack does not: refused here, not when the engine starts.
		{name: "mtu below the netstack's", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "mtu": 576}`, wantErr: "config: mtu 576: at least 1280 (IPv6 needs it)"},
		{name: "mtu too big", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "mtu": 70000}`, wantErr: "mtu 70000: at most 65535"},
		{name: "bad log level", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "log_level": "loud"}`, wantErr: `log_level "loud"`},
		{name: "long log level is cut", json: `{"profile_dir": ` + q(dir) + up + `, "log_level": ` + q(long) + `}`, wantErr: `log_level "xxxx`},
		{name: "log level with offset", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "log_level": "info+2"}`, wantErr: "log_level"},
		{name: "negative timeout", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "start_timeout_ms": -1}`, wantErr: "start_timeout_ms -1: want a whole number from 1 to 600000"},
		{name: "bad upstream", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1", "dns.example"]}`, wantErr: `upstream_dns[1] "dns.example"`},
		{name: "upstream port 0", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1:0"]}`, wantErr: "upstream_dns[0]"},
		{name: "both upstream sources", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "resolv_conf": ` + q(resolv) + `}`, wantErr: "not both"},
		{name: "resolv_conf missing", json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(filepath.Join(dir, "nope")) + `}`, wantErr: "no upstream_dns given and resolv_conf " + q(filepath.Join(dir, "nope")) + ": no such file or directory"},
		{name: "resolv_conf without nameserver", json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(emptyResolv) + `}`, wantErr: "no upstream_dns given and resolv_conf " + q(emptyResolv)},
		{name: "resolv_conf too large", json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(bigResolv) + `}`, wantErr: "larger than 64 KiB"},
		// Read, /dev/null says nothing; /dev/zero never ends.
		{name: "resolv_conf a device", json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": "/dev/null"}`, wantErr: "not a regular file (a character device)"},
		{name: "resolv_conf a directory", json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(dir) + `}`, wantErr: "not a regular file (a directory)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseStartConfig([]byte(tc.json), now)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, o)
				return
			}
			if err == nil {
				t.Fatalf("parsed: %+v", o)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q, want one starting config: with %q", err, tc.wantErr)
			}
			checkErrorText(t, err.Error())
		})
	}
}

// maxErrorText bounds a config error: a few words, the field, and at most
// maxEcho bytes of each value quoted (the quoting may double them).
const maxErrorText = 400

// checkErrorText fails t unless msg is what vnet.h promises of an error
// text: one line, no NUL, no Go type or struct name, bounded.
func checkErrorText(t testing.TB, msg string) {
	t.Helper()
	switch {
	case strings.ContainsAny(msg, "\n\x00"):
		t.Errorf("error %q: more than one line, or a NUL", msg)
	case len(msg) > maxErrorText:
		t.Errorf("error of %d bytes (at most %d): %.200q...", len(msg), maxErrorText, msg)
	case goNames.MatchString(msg):
		t.Errorf("error %q names Go types", msg)
	}
}

// goNames matches what encoding/json's own errors say about Go.
var goNames = regexp.MustCompile(`Go (struct|value)|StartConfig\.|json: |of type (int|string|bool|\[\]string|\*)`)

// A FIFO as resolv_conf would make vnet_start wait for a writer forever:
// it is refused at once. Without the check, the test's writer end (opened
// without blocking, so it only opens while the reader waits) lets the read
// end with a valid file, and the test fails.
func TestParseStartConfigFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "resolv.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := parseStartConfig([]byte(`{"profile_dir": "`+dir+`", "resolv_conf": "`+fifo+`"}`), time.Now())
		done <- err
	}()
	for {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
				t.Fatalf("FIFO as resolv_conf: %v, want not a regular file (a FIFO)", err)
			}
			return
		default:
		}
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.WriteString("nameserver 192.0.2.53\n")
			w.Close()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A resolv_conf whose read does not end (a hung file system) is given up
// at the start's deadline.
func TestReadWithinDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, err := within(time.Now(), func() ([]byte, error) { <-release; return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "not read within start_timeout_ms") {
		t.Errorf("hung read: %v, want not read within start_timeout_ms", err)
	}
}
