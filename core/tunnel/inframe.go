package tunnel

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vnetproject/vnet/core/api"
)

// inFrame is what a Conn receives a frame into (its stream's RecvMsg). A
// data frame's bytes are not copied out of the buffers gRPC read the
// HTTP/2 data frames into: the codec takes a reference to those buffers
// (mem.Buffer.Ref; gRPC frees its own once Unmarshal returns) and records
// where the data lies in them, and the Conn frees them once its reader has
// taken the data (release). Copying them into a buffer of the frame's own
// was a fifth of vnet up's memmove during a download (docs/benchmarks.md).
// Any other frame is decoded into f by the proto codec.
type inFrame struct {
	f    api.Frame       // the frame; its Data is left empty when data holds it
	data [][]byte        // the frame's data in order, none empty, within bufs
	bufs mem.BufferSlice // gRPC's buffers data refers to; nil if it refers to f.Data
}

// unmarshal fills in from msg. A data frame as proto.Marshal writes it
// (the data field, then at most an eof field) is taken by reference;
// anything else goes to proto.
func (in *inFrame) unmarshal(msg mem.BufferSlice, proto encoding.CodecV2) error {
	in.f.Reset()
	in.data, in.bufs = nil, nil
	if start, end, eof, ok := dataFrameRange(msg); ok {
		for _, buf := range msg {
			b := buf.ReadOnlyData()
			lo, hi := max(start, 0), min(end, len(b))
			if lo < hi {
				in.data = append(in.data, b[lo:hi])
			}
			start, end = start-len(b), end-len(b)
		}
		msg.Ref()
		in.bufs = msg
		in.f.Eof = eof
		return nil
	}
	if err := proto.Unmarshal(msg, &in.f); err != nil {
		return err
	}
	if len(in.f.Data) > 0 {
		in.data = [][]byte{in.f.Data}
	}
	return nil
}

// release frees the buffers in's data refers to, once.
func (in *inFrame) release() {
	in.bufs.Free()
	in.data, in.bufs = nil, nil
}

// dataFrameRange reports where a data frame's data lies in msg, from start
// to end, and its eof: msg must be the data field (not empty) first, then
// at most an eof field, each well formed; anything else reports false.
func dataFrameRange(msg mem.BufferSlice) (start, end int, eof, ok bool) {
	total := msg.Len()
	var head [16]byte
	h := head[:copyAt(msg, 0, head[:min(total, len(head))])]
	num, typ, n := protowire.ConsumeTag(h)
	if n < 0 || num != frameDataField || typ != protowire.BytesType {
		return 0, 0, false, false
	}
	size, m := protowire.ConsumeVarint(h[n:])
	if m < 0 || size == 0 || size > uint64(total) {
		return 0, 0, false, false
	}
	start = n + m
	end = start + int(size)
	if end > total {
		return 0, 0, false, false
	}
	var tail [16]byte
	if total-end > len(tail) {
		return 0, 0, false, false
	}
	t := tail[:copyAt(msg, end, tail[:total-end])]
	if len(t) > 0 {
		num, typ, n := protowire.ConsumeTag(t)
		if n < 0 || num != frameEOFField || typ != protowire.VarintType {
			return 0, 0, false, false
		}
		v, m := protowire.ConsumeVarint(t[n:])
		if m < 0 || n+m != len(t) {
			return 0, 0, false, false
		}
		eof = v != 0
	}
	return start, end, eof, true
}

// copyAt copies msg's bytes from offset off into dst, as many as fit, and
// returns how many it copied.
func copyAt(msg mem.BufferSlice, off int, dst []byte) int {
	n := 0
	for _, buf := range msg {
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
