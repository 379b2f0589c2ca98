package dns

import "encoding/binary"

// Answers in batches: a pool's socket reader takes every answer waiting
// on its socket with one system call where the OS has one (recvmmsg on
// Linux, answer_batch_linux.go), so that one wake-up of the reader hands
// on many answers; elsewhere one answer per read (answer_batch_other.go).
//
// The first slot of a batch holds the largest DNS message, the others
// batchSlotSize bytes: an answer longer than that in a later slot is cut
// by the kernel. Such an answer is read as truncated (asTruncated): its
// query is retried over TCP, as for an answer the server truncated,
// rather than lost.

const (
	// answerBatchSize is how many answers one read takes at most.
	answerBatchSize = 8
	// batchSlotSize is a later slot's buffer: an answer to an EDNS
	// query of 4096 bytes, the usual largest, fits.
	batchSlotSize = 4096
)

// asTruncated makes pkt, an answer the kernel cut to fit its buffer,
// into what a server sends when the answer does not fit: its header with
// TC set and its question, no records. The pool then reads it as any
// answer (its ID and question must match a query in flight) and the
// query goes over TCP. pkt is modified; what cannot be read is returned
// as it is, to be dropped as garbage.
func asTruncated(pkt []byte) []byte {
	if len(pkt) < headerLen || binary.BigEndian.Uint16(pkt[4:]) != 1 {
		return pkt
	}
	end := headerLen
	for {
		if end >= len(pkt) {
			return pkt
		}
		l := int(pkt[end])
		if l == 0 {
			end++
			break
		}
		if l&0xc0 == 0xc0 {
			end += 2
			break
		}
		if l&0xc0 != 0 {
			return pkt
		}
		end += 1 + l
	}
	end += 4 // type and class
	if end > len(pkt) {
		return pkt
	}
	binary.BigEndian.PutUint16(pkt[2:], binary.BigEndian.Uint16(pkt[2:])|flagTC)
	clear(pkt[6:headerLen]) // no answer, authority or additional records
	return pkt[:end]
}
