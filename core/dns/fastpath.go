package dns

import (
	"encoding/binary"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// The fast path (issue 12): the usual query, one A or AAAA question of
// class IN with at most a bare EDNS0 OPT record, is read straight from the
// wire and, when the name is VNet's and has an address of that family, the
// answer is written straight to the wire: no message structs, no name
// strings besides the one the Resolver is given, no allocation otherwise.
// The bytes are those the general path (Unpack, handleLocal, pack) writes
// for the same query, which TestFastPathMatchesSlowPath checks; anything
// this file does not take (other types and classes, EDNS options, NODATA,
// an answer that needs truncating, unusual names or flags, garbage) goes
// the general way, so the rules are the general path's by construction.

// wireQuery is what the fast path read from a query.
type wireQuery struct {
	name     string // lowercased, without the trailing dot, as Resolve wants it
	qtype    uint16
	edns     bool // the query carried an OPT record
	do       bool // its DNSSEC OK bit
	udpSize  int  // the largest answer the client takes (clientUDPSize)
	rd, cd   bool // recursion desired, checking disabled: echoed
	question []byte
}

// Header flag bits (RFC 1035 section 4.1.1, RFC 4035 section 3.2).
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagZ  = 1 << 6
	flagAD = 1 << 5
	flagCD = 1 << 4

	flagsOpcode = 0xf << 11
	flagsRcode  = 0xf

	headerLen = 12
	optDO     = 1 << 15 // in the OPT record's TTL field
)

// parseQuery reads pkt when it is a query the fast path takes; ok is false
// for anything else, which the general path then reads. It does not keep
// pkt, but q.question points into it.
func parseQuery(pkt []byte) (q wireQuery, ok bool) {
	if len(pkt) < headerLen {
		return q, false
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	// A query (not a response) of opcode QUERY; the flags a query has no
	// business setting go the general way. AD may be set (RFC 6840
	// section 5.7) and is not echoed.
	if flags&(flagQR|flagsOpcode|flagAA|flagTC|flagRA|flagZ|flagsRcode) != 0 {
		return q, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(pkt[4:]), binary.BigEndian.Uint16(pkt[6:]), binary.BigEndian.Uint16(pkt[8:]), binary.BigEndian.Uint16(pkt[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return q, false
	}
	var name [255]byte
	n, off := 0, headerLen
	for {
		if off >= len(pkt) {
			return q, false
		}
		l := int(pkt[off])
		off++
		if l == 0 {
			break
		}
		// No compression pointer (nothing to point at in a question) or
		// extended label type; the name on the wire is at most 255 bytes.
		if l > 63 || off+l > len(pkt) || off-headerLen+l+1 > 255 {
			return q, false
		}
		if n > 0 {
			name[n] = '.'
			n++
		}
		for _, c := range pkt[off : off+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				// Escaped in presentation form by the general path.
				return q, false
			}
			name[n] = c
			n++
		}
		off += l
	}
	if n == 0 || off+4 > len(pkt) {
		return q, false // the root, or no type and class
	}
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	if binary.BigEndian.Uint16(pkt[off+2:]) != mdns.ClassINET || (q.qtype != mdns.TypeA && q.qtype != mdns.TypeAAAA) {
		return q, false
	}
	off += 4
	q.question = pkt[headerLen:off]
	q.udpSize = mdns.MinMsgSize
	if ar == 1 {
		// A bare OPT record: the root name, no options, version 0, no
		// extended rcode, no flags but DO.
		if off+11 != len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != mdns.TypeOPT {
			return q, false
		}
		ttl := binary.BigEndian.Uint32(pkt[off+5:])
		if ttl&^optDO != 0 || binary.BigEndian.Uint16(pkt[off+9:]) != 0 {
			return q, false
		}
		q.edns = true
		q.do = ttl&optDO != 0
		q.udpSize = max(int(binary.BigEndian.Uint16(pkt[off+3:])), mdns.MinMsgSize)
	} else if off != len(pkt) {
		return q, false
	}
	q.name = string(name[:n])
	q.rd = flags&flagRD != 0
	q.cd = flags&flagCD != 0
	return q, true
}

// appendAnswer appends to b the answer to q, whose query had ID id, from
// ans: the records of q's family, the question echoed as it was asked,
// with compression, and an OPT record when the query had one. ok is false
// when the general path must answer instead: no address of q's family
// (NODATA, which carries a SOA) or an answer longer than the client takes
// (which is truncated).
func appendAnswer(b []byte, id uint16, q wireQuery, ans Answer) ([]byte, bool) {
	rdlen, count := 4, 0
	if q.qtype == mdns.TypeAAAA {
		rdlen = 16
	}
	for _, a := range ans.Addrs {
		if familyOf(q.qtype, a) {
			count++
		}
	}
	size := headerLen + len(q.question) + count*(12+rdlen)
	if q.edns {
		size += 11
	}
	if count == 0 || count > 0xffff || size > q.udpSize {
		return b, false
	}
	flags := uint16(flagQR | flagAA | flagRA)
	if q.rd {
		flags |= flagRD
	}
	if q.cd {
		flags |= flagCD
	}
	var ar uint16
	if q.edns {
		ar = 1
	}
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(count))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, ar)
	b = append(b, q.question...)
	for _, a := range ans.Addrs {
		if !familyOf(q.qtype, a) {
			continue
		}
		b = append(b, 0xc0, headerLen) // the question's name
		b = binary.BigEndian.AppendUint16(b, q.qtype)
		b = binary.BigEndian.AppendUint16(b, mdns.ClassINET)
		b = binary.BigEndian.AppendUint32(b, ans.TTL)
		b = binary.BigEndian.AppendUint16(b, uint16(rdlen))
		if rdlen == 4 {
			v := a.Unmap().As4()
			b = append(b, v[:]...)
		} else {
			v := a.As16()
			b = append(b, v[:]...)
		}
	}
	if q.edns {
		var ttl uint32
		if q.do {
			ttl = optDO
		}
		b = append(b, 0) // the root
		b = binary.BigEndian.AppendUint16(b, mdns.TypeOPT)
		b = binary.BigEndian.AppendUint16(b, serverUDPSize)
		b = binary.BigEndian.AppendUint32(b, ttl)
		b = binary.BigEndian.AppendUint16(b, 0)
	}
	return b, true
}

// familyOf reports whether a answers a question of type qtype (A or AAAA),
// as addrRR decides.
func familyOf(qtype uint16, a netip.Addr) bool {
	if qtype == mdns.TypeA {
		return a.Unmap().Is4()
	}
	return a.Is6() && !a.Is4In6()
}
