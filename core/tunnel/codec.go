package tunnel

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec this one wraps
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vnetproject/vnet/core/api"
)

// codec is gRPC's "proto" codec with a fast path for the tunnel's data
// frames, registered in its place for the whole process. A data frame
// (api.Frame with only data and eof set) is written and read by hand: on
// send its bytes are copied once into a pooled buffer that gRPC frees after
// writing (proto.Marshal allocates a fresh one per frame); on receive they
// are copied once into a pooled buffer that the Conn gives back when its
// reader has taken them (releaseFrameData). Every other message, and any
// frame with another field, goes through the proto codec.
//
// The bytes on the wire are exactly what proto.Marshal writes for the same
// frame (fields in number order, proto3 defaults left out), so either end
// may run the plain proto codec: an older client and a newer proxy
// interoperate, and so do the reverse.
type codec struct {
	proto encoding.CodecV2 // never nil
}

func init() {
	encoding.RegisterCodecV2(codec{proto: encoding.GetCodecV2("proto")})
}

// Field numbers of api.Frame (core/api/vnet.proto).
const (
	frameDataField protowire.Number = 3
	frameEOFField  protowire.Number = 4
)

func (codec) Name() string { return "proto" }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*api.Frame)
	if !ok || f.Dial != nil || f.Result != nil || len(f.ProtoReflect().GetUnknown()) != 0 {
		return c.proto.Marshal(v)
	}
	size := 0
	if len(f.Data) > 0 {
		size += protowire.SizeTag(frameDataField) + protowire.SizeBytes(len(f.Data))
	}
	if f.Eof {
		size += protowire.SizeTag(frameEOFField) + protowire.SizeVarint(1)
	}
	buf := framePool.Get(size)
	b := (*buf)[:0]
	if len(f.Data) > 0 {
		b = protowire.AppendTag(b, frameDataField, protowire.BytesType)
		b = protowire.AppendBytes(b, f.Data)
	}
	if f.Eof {
		b = protowire.AppendTag(b, frameEOFField, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, framePool)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*api.Frame)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	if len(data) == 1 && decodeDataFrame(data[0].ReadOnlyData(), f) {
		return nil
	}
	if len(data) > 1 && decodeDataFrameSlice(data, f) {
		return nil
	}
	f.Reset()
	return c.proto.Unmarshal(data, v)
}

// decodeDataFrameSlice is decodeDataFrame for a message that gRPC hands
// over in several buffers (one per HTTP/2 data frame it arrived in): the
// data field is copied straight from them into a pooled buffer. Joining
// them first (MaterializeToBuffer) cost a zeroed buffer from gRPC's pool
// and one more copy per byte: a third of vnet up's CPU during a download
// (docs/benchmarks.md, "Profile-driven levers"). A data frame is the data
// field first, then at most an eof field; anything else reports false.
func decodeDataFrameSlice(data mem.BufferSlice, f *api.Frame) bool {
	total := data.Len()
	var head [16]byte
	h := head[:copyAt(data, 0, head[:min(total, len(head))])]
	num, typ, n := protowire.ConsumeTag(h)
	if n < 0 || num != frameDataField || typ != protowire.BytesType {
		return false
	}
	size, m := protowire.ConsumeVarint(h[n:])
	if m < 0 || size == 0 || size > uint64(total) {
		return false
	}
	start := n + m
	end := start + int(size)
	if end > total {
		return false
	}
	var tail [16]byte
	if total-end > len(tail) {
		return false
	}
	t := tail[:copyAt(data, end, tail[:total-end])]
	eof := false
	if len(t) > 0 {
		num, typ, n := protowire.ConsumeTag(t)
		if n < 0 || num != frameEOFField || typ != protowire.VarintType {
			return false
		}
		v, m := protowire.ConsumeVarint(t[n:])
		if m < 0 || n+m != len(t) {
			return false
		}
		eof = v != 0
	}
	f.Reset()
	buf := framePool.Get(int(size))
	copyAt(data, start, *buf)
	f.Data = *buf
	f.Eof = eof
	return true
}

// copyAt copies data's bytes from offset off into dst, as many as fit, and
// returns how many it copied.
func copyAt(data mem.BufferSlice, off int, dst []byte) int {
	n := 0
	for _, buf := range data {
		b := buf.ReadOnlyData()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		n += copy(dst[n:], b[off:])
		off = 0
		if n == len(dst) {
			break
		}
	}
	return n
}

// decodeDataFrame fills f from b if b holds a data frame: fields data and
// eof only, each at most once, well formed. The data is copied into a
// pooled buffer. It reports false, leaving f for the proto codec, for
// anything else.
func decodeDataFrame(b []byte, f *api.Frame) bool {
	var (
		data          []byte
		eof, seenData bool
		seenEOF       bool
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == frameDataField && typ == protowire.BytesType && !seenData:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			data, seenData, b = v, true, b[n:]
		case num == frameEOFField && typ == protowire.VarintType && !seenEOF:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			eof, seenEOF, b = v != 0, true, b[n:]
		default:
			return false
		}
	}
	f.Reset()
	if len(data) > 0 {
		buf := framePool.Get(len(data))
		copy(*buf, data)
		f.Data = *buf
	}
	f.Eof = eof
	return true
}

// releaseFrameData gives a received frame's data back to the pool once the
// Conn's reader has taken all of it. Data that did not come from the pool
// (a frame the proto codec decoded, or larger than a pooled buffer) is left
// to the garbage collector.
func releaseFrameData(b []byte) {
	if cap(b) == framePoolCap {
		b = b[:0]
		framePool.Put(&b)
	}
}

// framePoolCap is the capacity of every pooled frame buffer: a full data
// frame and its field header.
const framePoolCap = maxFrame + 16

// framePool holds framePoolCap-sized buffers (pool.go).
var framePool = newBufferPool(framePoolCap)
