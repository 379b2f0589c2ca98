package main

import (
	"errors"
	"sync"
	"unsafe"
)

// injectMax is the most packets one vnet_inject call may carry
// (VNET_INJECT_MAX in vnet.h; TestHeaderConstants holds the two equal). Far
// more than any batch packetFlow reads; it only keeps a count like SIZE_MAX
// from describing an array larger than memory.
const injectMax = 65536

// injectChunk is how many packets injectFrom hands to the queue at a
// time, so the slices it builds over C memory stay small.
const injectChunk = 64

// errInjectCount is injectFrom's answer to more than injectMax packets.
var errInjectCount = errors.New("more packets than VNET_INJECT_MAX in one call")

// batchPool recycles the slice headers injectFrom builds over C memory.
var batchPool = sync.Pool{New: func() any { b := make([][]byte, 0, injectChunk); return &b }}

// injectFrom hands q the n packets of vnet_inject's arrays: pkts holds n
// pointers (const uint8_t *), lens n lengths (size_t, the width of
// uintptr on every platform Go builds c-archives for). A length is
// compared with the MTU as the unsigned number it is, before any
// conversion: a packet longer than the MTU (up to SIZE_MAX) is dropped and
// counted without a byte of it being read, as is an empty or NULL one.
func injectFrom(q *packetQueue, pkts, lens unsafe.Pointer, n uint64) error {
	if n > injectMax {
		return errInjectCount
	}
	ps := unsafe.Slice((*unsafe.Pointer)(pkts), n)
	ls := unsafe.Slice((*uintptr)(lens), n)
	bp := batchPool.Get().(*[][]byte)
	defer batchPool.Put(bp)
	for off := 0; off < len(ps); off += injectChunk {
		batch := (*bp)[:0]
		for i := off; i < min(off+injectChunk, len(ps)); i++ {
			if ps[i] == nil || ls[i] == 0 || ls[i] > uintptr(q.mtu) {
				q.drop()
				continue
			}
			batch = append(batch, unsafe.Slice((*byte)(ps[i]), ls[i]))
		}
		err := q.inject(batch)
		clear(batch) // no reference to C memory may outlive the call
		*bp = batch[:0]
		if err != nil {
			return err
		}
	}
	return nil
}
