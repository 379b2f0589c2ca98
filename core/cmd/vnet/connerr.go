package main

import (
	"regexp"
	"strings"
)

// gRPC reports a failed dial as `connection error: desc = "transport:
// Error while dialing: dial tcp HOST:PORT: connect: connection refused"`.
// People get what happened, in words, and what to do next.
var (
	transportRE = regexp.MustCompile(`connection error: desc = "transport: (?:Error while dialing: )?(.*?)"?$`)
	dialAddrRE  = regexp.MustCompile(`dial tcp ([^ ]+): `)
	lookupRE    = regexp.MustCompile(`lookup ([^ ]+)(?: on [^ ]+)?: (.*)`)
)

// connLine rewrites a line that ends in gRPC's transport error; other
// lines are returned as they are.
func connLine(line string) string {
	loc := transportRE.FindStringSubmatchIndex(line)
	if loc == nil {
		return line
	}
	prefix := strings.TrimSuffix(strings.TrimSpace(line[:loc[0]]), ":")
	if prefix != "" {
		prefix += ": "
	}
	return prefix + explainDial(line[loc[2]:loc[3]])
}

// explainDial says what a dial error means and the next step.
func explainDial(msg string) string {
	addr := "the proxy"
	if m := dialAddrRE.FindStringSubmatch(msg); m != nil {
		addr = m[1]
	}
	switch {
	case lookupRE.MatchString(msg):
		m := lookupRE.FindStringSubmatch(msg)
		if strings.Contains(m[2], "no such host") {
			return "the name " + m[1] + " is not found in DNS: check the proxy address (--proxy), or your DNS"
		}
		return "the name " + m[1] + " could not be looked up (" + m[2] + "): check your DNS and network"
	case strings.Contains(msg, "connection refused"):
		return "nothing accepts connections at " + addr + " (connection refused): check the port, and that the cluster runs"
	case strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "deadline exceeded"):
		return "no answer from " + addr + " (timed out): check the address and any firewall on the way"
	case strings.Contains(msg, "no route to host"), strings.Contains(msg, "network is unreachable"):
		return addr + " cannot be reached from here (no route): check your network connection"
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "tls:"):
		return "the TLS handshake with " + addr + " failed (" + msg + "): is it a VNet proxy, and is the CA the one you trust?"
	}
	return "cannot connect to " + addr + ": " + msg
}
