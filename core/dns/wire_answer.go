package dns

import (
	"bytes"
	"encoding/binary"

	mdns "github.com/miekg/dns"
)

// An upstream's answer read on the wire, for the queries forwarded on the
// wire (forward_wire.go): enough of it to tell whether it may go to the
// client as it came, and nothing more. Anything this file does not like
// goes to miekg/dns, whose verdict is the general path's.

// answerInfo is what readAnswer found in an answer.
type answerInfo struct {
	rcode   int  // the header's 4 bits
	ext     bool // the OPT record carries extended rcode bits
	tc      bool // truncated
	opts    int  // OPT records in the additional section
	optLast int  // offset of the OPT record when it is the last record; else 0
}

// Header field offsets (RFC 1035 section 4.1.1).
const (
	offFlags   = 2
	offQDCount = 4
	offARCount = 10
)

// readAnswer reads the answer pkt to a query whose question section was
// question (as the client sent it): ok is false unless pkt is a response
// with that one question (names compared without case) followed by
// records that each fit, whose A and AAAA data have their size, and
// nothing after them. For each A and AAAA record, in any section, addr
// gets its data.
func readAnswer(pkt, question []byte, addr func(rdata []byte)) (a answerInfo, ok bool) {
	if len(pkt) < headerLen+len(question) {
		return a, false
	}
	flags := binary.BigEndian.Uint16(pkt[offFlags:])
	if flags&flagQR == 0 || flags&flagsOpcode != 0 || binary.BigEndian.Uint16(pkt[offQDCount:]) != 1 {
		return a, false
	}
	a.rcode = int(flags & flagsRcode)
	a.tc = flags&flagTC != 0
	got, name := pkt[headerLen:headerLen+len(question)], len(question)-4
	if !equalFoldASCII(got[:name], question[:name]) || !bytes.Equal(got[name:], question[name:]) {
		return a, false
	}
	an, ns, ar := int(binary.BigEndian.Uint16(pkt[6:])), int(binary.BigEndian.Uint16(pkt[8:])), int(binary.BigEndian.Uint16(pkt[10:]))
	off := headerLen + len(question)
	for i := range an + ns + ar {
		start := off
		if off, ok = skipName(pkt, off); !ok || off+10 > len(pkt) {
			return a, false
		}
		rtype := binary.BigEndian.Uint16(pkt[off:])
		rdlen := int(binary.BigEndian.Uint16(pkt[off+8:]))
		rdata := off + 10
		if rdata+rdlen > len(pkt) {
			return a, false
		}
		switch rtype {
		case mdns.TypeA, mdns.TypeAAAA:
			want := 4
			if rtype == mdns.TypeAAAA {
				want = 16
			}
			if rdlen != want {
				return a, false
			}
			addr(pkt[rdata : rdata+rdlen])
		case mdns.TypeOPT:
			if i < an+ns || pkt[start] != 0 {
				return a, false // only in the additional section, owned by the root
			}
			a.opts++
			a.ext = pkt[off+4] != 0 // the TTL's first byte
			if i == an+ns+ar-1 {
				a.optLast = start
			}
		}
		off = rdata + rdlen
	}
	return a, off == len(pkt)
}

// skipName returns the offset after the name at off in pkt. A compression
// pointer must point before the name it ends.
func skipName(pkt []byte, off int) (int, bool) {
	start, n := off, 0
	for off < len(pkt) {
		l := int(pkt[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			if off+1 >= len(pkt) || int(binary.BigEndian.Uint16(pkt[off:])&0x3fff) >= start {
				return 0, false
			}
			return off + 2, true
		case l > 63:
			return 0, false // extended label types
		}
		n += l + 1
		if n > 255 {
			return 0, false
		}
		off += l + 1
	}
	return 0, false
}

// equalFoldASCII reports whether a and b are equal but for the case of
// ASCII letters.
func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i, c := range a {
		d := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
