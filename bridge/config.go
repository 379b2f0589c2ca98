package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vnetproject/vnet/core/vnet"
)

// Defaults and limits of StartConfig.
const (
	defaultResolvConf   = "/etc/resolv.conf"
	defaultMTU          = vnet.DefaultMTU
	defaultStartTimeout = 30 * time.Second
	// maxStartTimeoutMS bounds start_timeout_ms: ten minutes is more
	// than any start needs, and far from overflowing a time.Duration.
	maxStartTimeoutMS = 10 * 60 * 1000
)

// hostMTU is what the bridge's side of the link takes; the engine's own
// limits are narrower (vnet.MinMTU: IPv6 needs 1280).
var hostMTU = vnet.MTURange{Min: 576, Max: 65535, Who: "the bridge"} // 576: the least an IPv4 host must accept (RFC 791)

// StartConfig is the JSON object vnet_start takes (documented in vnet.h).
// Field names match exactly; a field given as null is a field left out.
type StartConfig struct {
	ProfileDir     string   `json:"profile_dir"`
	UpstreamDNS    []string `json:"upstream_dns"`
	ResolvConf     string   `json:"resolv_conf"`
	MTU            *int     `json:"mtu"`
	LogLevel       string   `json:"log_level"`
	StartTimeoutMS *int     `json:"start_timeout_ms"`
	// IPv6 (default true) answers AAAA and routes the machine's ULA /64,
	// kept in profile_dir/ula-prefix so apps keep their IPv6 addresses.
	IPv6 *bool `json:"ipv6"`
}

// configFields are StartConfig's JSON names and what each takes, for
// errors that speak JSON rather than Go.
var configFields = map[string]string{
	"profile_dir":      "a string (a folder)",
	"upstream_dns":     "an array of strings",
	"resolv_conf":      "a string (a file)",
	"mtu":              "a whole number",
	"log_level":        "a string",
	"start_timeout_ms": fmt.Sprintf("a whole number from 1 to %d", maxStartTimeoutMS),
	"ipv6":             "true or false",
}

// startOptions is a checked StartConfig, ready to use.
type startOptions struct {
	profileDir   string
	upstream     []netip.AddrPort // never empty
	mtu          int
	logLevel     slog.Level
	startTimeout time.Duration
	deadline     time.Time // when vnet_start gives up: its call plus startTimeout
	ipv6         bool
}

// parseStartConfig reads and checks vnet_start's JSON, for a call made at
// now. Each error is one line that names the field at fault and quotes at
// most maxEcho bytes of a bad value.
func parseStartConfig(data []byte, now time.Time) (*startOptions, error) {
	if err := checkObject(data); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c StartConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // checkObject refused them already
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", jsonError(err))
	}
	o := &startOptions{profileDir: c.ProfileDir, mtu: defaultMTU, startTimeout: defaultStartTimeout, ipv6: c.IPv6 == nil || *c.IPv6}

	if c.ProfileDir == "" {
		return nil, errors.New("config: profile_dir is required (the folder holding profiles/)")
	}
	if fi, err := os.Stat(c.ProfileDir); err != nil {
		return nil, fmt.Errorf("config: profile_dir %s: %s", echo(c.ProfileDir), fileError(err))
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("config: profile_dir %s is not a directory", echo(c.ProfileDir))
	}

	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if err := o.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil || !knownLevel(c.LogLevel) {
		return nil, fmt.Errorf("config: log_level %s: want debug, info, warn or error", echo(c.LogLevel))
	}

	if t := c.StartTimeoutMS; t != nil {
		if *t < 1 || *t > maxStartTimeoutMS {
			return nil, fmt.Errorf("config: start_timeout_ms %d: want %s (leave it out for %d)", *t, configFields["start_timeout_ms"], defaultStartTimeout.Milliseconds())
		}
		o.startTimeout = time.Duration(*t) * time.Millisecond
	}
	o.deadline = now.Add(o.startTimeout)
	if c.MTU != nil {
		// The engine reads 0 as its default; in the JSON it is a value
		// out of range like any other.
		if *c.MTU == 0 {
			return nil, fmt.Errorf("config: mtu 0: at least %d (leave it out for %d)", vnet.MinMTU, defaultMTU)
		}
		o.mtu = *c.MTU
	}

	var err error
	if o.upstream, err = upstreams(c, o.deadline); err != nil {
		return nil, err
	}
	// The engine checks its options (the MTU against every layer's
	// limits) here, before anything is allocated for the instance.
	eo := o.engineOptions(nil)
	if err := eo.CheckAndSetDefaults(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	o.mtu = eo.MTU
	return o, nil
}

// checkObject makes sure data is one JSON object whose field names are
// StartConfig's exactly (encoding/json alone matches them ignoring case),
// none given twice, with nothing but white space after it.
func checkObject(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("want a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		name := tok.(string) // inside an object, encoding/json only returns string keys
		if _, ok := configFields[name]; !ok {
			for known := range configFields {
				if strings.EqualFold(known, name) {
					return fmt.Errorf("unknown field %s: did you mean %q? (names match exactly)", echo(name), known)
				}
			}
			return fmt.Errorf("unknown field %s", echo(name))
		}
		if seen[name] {
			return fmt.Errorf("field %q is given twice", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return jsonError(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// jsonError is err from encoding/json, in JSON's words: no Go type or
// struct name, and no more than maxEcho bytes of the input.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON ends early")
	case errors.As(err, &syn):
		return fmt.Errorf("not JSON at byte %d: %s", syn.Offset, bounded(syn.Error()))
	case errors.As(err, &typ):
		field, _, _ := strings.Cut(typ.Field, ".") // "upstream_dns.0" for an element
		if want, ok := configFields[field]; ok {
			return fmt.Errorf("%s: want %s, not %s", field, want, bounded(typ.Value))
		}
		return fmt.Errorf("want a JSON object, not %s", bounded(typ.Value))
	}
	return errors.New(bounded(err.Error()))
}

// maxEcho bounds how much of a bad value an error quotes.
const maxEcho = 64

// echo is s quoted for an error, cut to maxEcho bytes (on a rune
// boundary) with "..." after a cut.
func echo(s string) string {
	if len(s) <= maxEcho {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", cut(s, maxEcho))
}

// bounded is s cut to maxEcho bytes with "..." after a cut.
func bounded(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	return cut(s, maxEcho) + "..."
}

// cut is s cut to at most n (< len(s)) bytes, on a rune boundary.
func cut(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fileError is why a file operation failed, without the path (which the
// caller quotes, bounded): "no such file or directory".
func fileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return bounded(err.Error())
}

func knownLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// upstreams are the servers given in upstream_dns, or else the nameservers
// of resolv_conf, read by deadline. On macOS /etc/resolv.conf lists the
// primary resolvers and VNet never changes it (its DNS is split by match
// domains), so the default is what the system used before VNet.
func upstreams(c StartConfig, deadline time.Time) ([]netip.AddrPort, error) {
	if c.ResolvConf != "" && len(c.UpstreamDNS) > 0 {
		return nil, errors.New("config: give upstream_dns or resolv_conf, not both")
	}
	if len(c.UpstreamDNS) > 0 {
		out := make([]netip.AddrPort, 0, len(c.UpstreamDNS))
		for i, s := range c.UpstreamDNS {
			ap, err := parseServer(s)
			if err != nil {
				return nil, fmt.Errorf("config: upstream_dns[%d] %s: want an IP address, optionally with :port", i, echo(s))
			}
			out = append(out, ap)
		}
		return out, nil
	}
	path := c.ResolvConf
	if path == "" {
		path = defaultResolvConf
	}
	data, err := readResolvConf(path, deadline)
	if err != nil {
		return nil, fmt.Errorf("config: no upstream_dns given and resolv_conf %s: %w", echo(path), err)
	}
	servers, err := vnet.ParseResolvConf(data)
	if err != nil {
		return nil, fmt.Errorf("config: no upstream_dns given and resolv_conf %s: %w", echo(path), err)
	}
	return servers, nil
}

// parseServer reads "192.0.2.1", "192.0.2.1:5353", "2001:db8::1" or
// "[2001:db8::1]:53"; the port defaults to 53.
func parseServer(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, errors.New("port 0")
	}
	return ap, nil
}
