package tunnel

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/vnetproject/vnet/core/api"
)

// withUnknown is f with an unknown field (number 99) appended, as a newer
// peer might send.
func withUnknown(f *api.Frame) *api.Frame {
	f.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
	return f
}

func codecFrames() []struct {
	name string
	f    *api.Frame
	fast bool // a data frame: the hand-written path
} {
	return []struct {
		name string
		f    *api.Frame
		fast bool
	}{
		{name: "data", f: &api.Frame{Data: bytes.Repeat([]byte("x"), maxFrame)}, fast: true},
		{name: "one byte", f: &api.Frame{Data: []byte{0}}, fast: true},
		{name: "eof", f: &api.Frame{Eof: true}, fast: true},
		{name: "data and eof", f: &api.Frame{Data: []byte("last"), Eof: true}, fast: true},
		{name: "empty", f: &api.Frame{}, fast: true},
		{name: "dial", f: &api.Frame{Dial: &api.DialRequest{App: "pg", Port: 5432, ClientAddr: "100.64.0.1:1234"}}},
		{name: "result", f: &api.Frame{Result: &api.DialResult{Error: "refused"}}},
		{name: "data with an unknown field", f: withUnknown(&api.Frame{Data: []byte("abc")})},
		{name: "oversized data", f: &api.Frame{Data: make([]byte, 3*maxFrame)}, fast: true},
	}
}

// TestCodecWireMatchesProto: what the codec writes is byte for byte what
// proto.Marshal writes, so a peer with the plain proto codec reads it.
func TestCodecWireMatchesProto(t *testing.T) {
	c := encoding.GetCodecV2("proto")
	if _, ok := c.(codec); !ok {
		t.Fatalf("the registered proto codec is %T, not the tunnel's", c)
	}
	for _, tt := range codecFrames() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Marshal(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Free()
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Materialize(), want) {
				t.Errorf("codec wrote %x\nproto wrote %x", got.Materialize(), want)
			}
		})
	}
}

// TestCodecRoundTrip: what a plain proto peer writes, split across buffers
// as gRPC may hand it over, decodes to the same frame, into an api.Frame
// (the proto codec) and into an inFrame (what a Conn receives into): there
// a data frame's bytes stay in gRPC's buffers, held by reference until
// released, and freed exactly once (countingPool panics on a second free).
// The splits include a data field that ends exactly where a buffer does
// ("data and eof" split at 8), and one byte per buffer.
func TestCodecRoundTrip(t *testing.T) {
	c := codec{proto: encoding.GetCodecV2("proto")}
	for _, tt := range codecFrames() {
		for _, split := range []int{0, 1, 3, 8, -1, -7, -16384} {
			wire, err := proto.Marshal(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			got := &api.Frame{Data: []byte("stale")}
			if err := c.Unmarshal(splitWire(wire, split), got); err != nil {
				t.Fatalf("%s, split at %d: %v", tt.name, split, err)
			}
			if !proto.Equal(got, tt.f) {
				t.Errorf("%s, split at %d: decoded %v, want %v", tt.name, split, got, tt.f)
			}

			pool := newCountingPool()
			msg := pool.slice(wire, split)
			in := inFrame{data: [][]byte{[]byte("stale")}}
			if err := c.Unmarshal(msg, &in); err != nil {
				t.Fatalf("%s, split at %d, inFrame: %v", tt.name, split, err)
			}
			msg.Free() // as gRPC does once Unmarshal returns
			var data []byte
			for _, d := range in.data {
				if len(d) == 0 {
					t.Errorf("%s, split at %d: an empty piece of data", tt.name, split)
				}
				data = append(data, d...)
			}
			if !bytes.Equal(data, tt.f.Data) || in.f.Eof != tt.f.Eof || len(in.f.Data) > 0 && in.bufs != nil {
				t.Errorf("%s, split at %d, inFrame: data %d bytes, eof %v; want %d bytes, eof %v", tt.name, split, len(data), in.f.Eof, len(tt.f.Data), tt.f.Eof)
			}
			if byRef := tt.fast && len(tt.f.Data) > 0; byRef != (in.bufs != nil) {
				t.Errorf("%s, split at %d: held by reference %v, want %v", tt.name, split, in.bufs != nil, byRef)
			}
			if in.bufs == nil && pool.held() != 0 {
				t.Errorf("%s, split at %d: %d buffers held by a frame decoded by copy", tt.name, split, pool.held())
			}
			in.release()
			in.release() // a second release frees nothing
			if n := pool.held(); n != 0 {
				t.Errorf("%s, split at %d: %d buffers not freed", tt.name, split, n)
			}
		}
	}
}

// splitWire is wire as gRPC may hand it over: one buffer (split 0), two
// cut at split (> 0), or buffers of -split bytes each (< 0).
func splitWire(wire []byte, split int) mem.BufferSlice {
	switch {
	case split > 0 && len(wire) > split:
		return mem.BufferSlice{mem.SliceBuffer(wire[:split]), mem.SliceBuffer(wire[split:])}
	case split < 0:
		var in mem.BufferSlice
		for b := wire; len(b) > 0; {
			n := min(-split, len(b))
			in, b = append(in, mem.SliceBuffer(b[:n])), b[n:]
		}
		return in
	}
	return mem.BufferSlice{mem.SliceBuffer(wire)}
}

// TestCodecBadInput: malformed frames fail as they do with the proto
// codec, in one buffer or in many, and a repeated field is left to it
// (last one wins).
func TestCodecBadInput(t *testing.T) {
	c := codec{proto: encoding.GetCodecV2("proto")}
	dataTag := protowire.AppendTag(nil, frameDataField, protowire.BytesType)
	for _, tt := range []struct {
		name string
		wire []byte
	}{
		{name: "length past the end", wire: append(protowire.AppendVarint(bytes.Clone(dataTag), 10), "abc"...)},
		{name: "truncated tag", wire: []byte{0x80}},
		{name: "truncated eof", wire: append(protowire.AppendBytes(bytes.Clone(dataTag), []byte("abc")), 0x20)},
	} {
		for _, split := range []int{0, 2, -1} {
			if err := c.Unmarshal(splitWire(tt.wire, split), &api.Frame{}); err == nil {
				t.Errorf("%s, split %d: decoded without an error", tt.name, split)
			}
		}
	}
	twice := protowire.AppendBytes(bytes.Clone(dataTag), []byte("one"))
	twice = protowire.AppendBytes(append(twice, dataTag...), []byte("two"))
	for _, split := range []int{0, 2, -1} {
		var f api.Frame
		if err := c.Unmarshal(splitWire(twice, split), &f); err != nil || string(f.Data) != "two" {
			t.Errorf("repeated data field, split %d: %q, %v; want %q as proto decodes it", split, f.Data, err, "two")
		}
	}
}
