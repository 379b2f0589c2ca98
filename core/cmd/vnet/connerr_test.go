package main

import (
	"errors"
	"strings"
	"testing"
)

// TestConnectionErrorsInWords: a failed dial reads as what happened and
// what to do, without gRPC's transport framing.
func TestConnectionErrorsInWords(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`login to nope.invalid:3080: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp: lookup nope.invalid on 10.255.255.53:53: no such host"`,
			"login to nope.invalid:3080: the name nope.invalid is not found in DNS: check the proxy address (--proxy), or your DNS"},
		{`login to 127.0.0.1:1: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`,
			"login to 127.0.0.1:1: nothing accepts connections at 127.0.0.1:1 (connection refused): check the port, and that the cluster runs"},
		{`connection error: desc = "transport: Error while dialing: dial tcp 10.1.1.1:3080: i/o timeout"`,
			"no answer from 10.1.1.1:3080 (timed out): check the address and any firewall on the way"},
		{`connection error: desc = "transport: Error while dialing: dial tcp 10.1.1.1:3080: connect: no route to host"`,
			"10.1.1.1:3080 cannot be reached from here (no route): check your network connection"},
		{"user alice no longer exists", "user alice no longer exists"},
	} {
		got := oneLine(errors.New(tc.in))
		if got != tc.want {
			t.Errorf("oneLine(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "transport") || strings.Contains(got, "desc =") {
			t.Errorf("%q keeps gRPC's framing", got)
		}
	}
}

func TestProxyAddr(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "proxy.example.com", want: "proxy.example.com:3080"},
		{in: "proxy.example.com:443", want: "proxy.example.com:443"},
		{in: "https://proxy.example.com", want: "proxy.example.com:3080"},
		{in: "https://proxy.example.com:8443/", want: "proxy.example.com:8443"},
		{in: "HTTPS://proxy.example.com", want: "proxy.example.com:3080"},
		{in: "10.0.0.1", want: "10.0.0.1:3080"},
		{in: "[2001:db8::1]:3080", want: "[2001:db8::1]:3080"},
		{in: "[2001:db8::1]", want: "[2001:db8::1]:3080"},
		{in: "http://proxy.example.com", err: "use host, host:port or https://host[:port]"},
		{in: "proxy.example.com:https", err: "port from 1 to 65535"},
		{in: "proxy.example.com:0", err: "port from 1 to 65535"},
		{in: "https://proxy.example.com/web/login", err: "use host"},
		{in: "", err: "use host"},
	} {
		got, err := proxyAddr(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("proxyAddr(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("proxyAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
