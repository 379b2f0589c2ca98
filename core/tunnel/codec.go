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
// writing (proto.Marshal allocates a fresh one per frame); on receive into
// an inFrame (what a Conn receives into, inframe.go) they are not copied at
// all but held in gRPC's buffers. Every other message, and any frame with
// another field, goes through the proto codec.
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
	if in, ok := v.(*inFrame); ok {
		return in.unmarshal(data, c.proto)
	}
	return c.proto.Unmarshal(data, v)
}

// framePoolCap is the capacity of every pooled frame buffer: a full data
// frame and its field header (Marshal; Conn.ReadFrom's reads).
const framePoolCap = maxFrame + 16

// framePool holds framePoolCap-sized buffers, and small ones for the
// frames of small writes, which would otherwise each hold a full frame's
// buffer while gRPC queues them (pool.go).
var framePool = tieredPool{newBufferPool(4 << 10), newBufferPool(framePoolCap)}
