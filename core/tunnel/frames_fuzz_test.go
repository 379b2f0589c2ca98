package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/tunnel"
)

// FuzzFrames feeds the tunnel's frames, decoded by the codec gRPC uses on
// the wire, to both ends of a stream through the package's public API
// only: the proxy's end (Accept then Established, AcceptAnswer then
// ServerConn) and the laptop's end (NewClient(...).Dial), then reads the
// connection to its end and writes through it. Whatever the peer sends,
// nothing panics, a dial is accepted only as documented, a connection
// reads exactly the data of the frames up to the first eof, and what is
// written arrives whole, ending with an eof frame.
//
// The input is a list of frames, each a length byte and that many bytes of
// an encoded api.Frame; bytes that do not decode end the stream with the
// codec's error, as a broken peer would.
func FuzzFrames(f *testing.F) {
	enc := func(frames ...*api.Frame) []byte {
		var out []byte
		for _, fr := range frames {
			b, err := codec().Marshal(fr)
			if err != nil {
				f.Fatal(err)
			}
			data := b.Materialize()
			b.Free()
			if len(data) > 255 {
				f.Fatalf("seed frame of %d bytes", len(data))
			}
			out = append(append(out, byte(len(data))), data...)
		}
		return out
	}
	dial := &api.Frame{Dial: &api.DialRequest{App: "db", Port: 5432, ClientAddr: "100.64.0.1:1234"}}
	ok := &api.Frame{Result: &api.DialResult{DialId: 7}}
	for _, seed := range [][]byte{
		enc(dial, &api.Frame{Data: []byte("hello ")}, &api.Frame{Data: []byte("world"), Eof: true}),
		enc(ok, &api.Frame{Data: []byte("abc")}, &api.Frame{Eof: true}, &api.Frame{Data: []byte("after eof")}),
		enc(dial, &api.Frame{Data: []byte("cut off")}),
		enc(&api.Frame{Result: &api.DialResult{Reason: api.DialFailure_DIAL_FAILURE_DENIED, Error: "no"}}),
		enc(&api.Frame{Result: &api.DialResult{Code: "refused", Error: "old peer"}}),
		enc(&api.Frame{Dial: &api.DialRequest{App: "db", Port: 70000}}),
		enc(&api.Frame{Dial: &api.DialRequest{Port: 1}}),
		enc(&api.Frame{Data: []byte("data first")}),
		enc(dial, &api.Frame{Dial: &api.DialRequest{App: "again"}}, &api.Frame{Result: &api.DialResult{}}, &api.Frame{Eof: true}),
		append(enc(ok, &api.Frame{Data: []byte("x")}), 3, 0xff, 0xff, 0xff), // a frame that does not decode
		{},
		{0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		frames := split(input)
		proxyEnd(t, frames, input)
		answerEnd(t, frames, input)
		clientEnd(t, frames, input)
	})
}

// codec is gRPC's codec for protobuf messages: whatever the process has
// registered under that name, as the wire uses it.
func codec() encoding.CodecV2 { return encoding.GetCodecV2(grpcproto.Name) }

// split cuts the fuzz input into encoded frames.
func split(in []byte) [][]byte {
	var out [][]byte
	for len(in) > 0 {
		n := min(int(in[0]), len(in)-1)
		out = append(out, in[1:1+n])
		in = in[1+n:]
	}
	return out
}

// peer plays the other end of a stream: it hands out the frames one by
// one, decoded, then io.EOF (the peer closed), or the codec's error for a
// frame that does not decode; it records the frames sent to it, encoded
// and decoded again.
type peer struct {
	frames [][]byte
	sent   []*api.Frame
	t      *testing.T
}

func (p *peer) recv() (*api.Frame, error) {
	if len(p.frames) == 0 {
		return nil, io.EOF
	}
	b := p.frames[0]
	p.frames = p.frames[1:]
	f := new(api.Frame)
	if err := codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, f); err != nil {
		p.frames = nil
		return nil, err
	}
	return f, nil
}

// recvMsg is recv into m, the message the package receives into (a Conn
// receives into its own type, not an api.Frame), with the frame's bytes
// split across two buffers as gRPC may hand them over.
func (p *peer) recvMsg(m any) error {
	if len(p.frames) == 0 {
		return io.EOF
	}
	b := p.frames[0]
	p.frames = p.frames[1:]
	msg := mem.BufferSlice{mem.SliceBuffer(b[:len(b)/2]), mem.SliceBuffer(b[len(b)/2:])}
	if err := codec().Unmarshal(msg, m); err != nil {
		p.frames = nil
		return err
	}
	return nil
}

func (p *peer) send(f *api.Frame) error {
	b, err := codec().Marshal(f)
	if err != nil {
		p.t.Errorf("a frame sent does not encode: %v", err)
		return err
	}
	back := new(api.Frame)
	if err := codec().Unmarshal(b, back); err != nil {
		p.t.Errorf("a frame sent does not decode: %v", err)
	}
	b.Free()
	p.sent = append(p.sent, back)
	return nil
}

// decoded is what a peer sees of frames: each decoded, up to the first
// that does not decode.
func decoded(frames [][]byte) (out []*api.Frame, bad bool) {
	for _, b := range frames {
		f := new(api.Frame)
		if codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, f) != nil {
			return out, true
		}
		out = append(out, f)
	}
	return out, false
}

// checkRead reads conn to its end and compares with what the frames after
// the first say: their data up to and with the first eof frame, then
// io.EOF; without an eof frame, an error.
func checkRead(t *testing.T, conn io.Reader, rest []*api.Frame) {
	t.Helper()
	var want []byte
	eof := false
	for _, f := range rest {
		want = append(want, f.GetData()...)
		if f.GetEof() {
			eof = true
			break
		}
	}
	got, err := io.ReadAll(conn)
	switch {
	case eof && err != nil:
		t.Errorf("read after an eof frame: %v", err)
	case !eof && err == nil:
		t.Error("read ended cleanly without an eof frame")
	}
	if eof && !bytes.Equal(got, want) || !eof && !bytes.HasPrefix(want, got) {
		t.Errorf("read %q, want %q", got, want)
	}
}

// checkWrite writes payload through conn and closes its write side: the
// frames sent after skip carry payload whole, then one eof frame.
func checkWrite(t *testing.T, conn interface {
	io.Writer
	CloseWrite() error
}, p *peer, skip int, payload []byte) {
	t.Helper()
	if n, err := conn.Write(payload); n != len(payload) || err != nil {
		t.Fatalf("write: %d of %d bytes, %v", n, len(payload), err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	sent := p.sent[skip:]
	for i, f := range sent {
		if f.GetDial() != nil || f.GetResult() != nil || f.GetEof() != (i == len(sent)-1) {
			t.Fatalf("frame %d of %d sent: %v", i, len(sent), f)
		}
		got = append(got, f.GetData()...)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("frames carried %d bytes, want the %d written", len(got), len(payload))
	}
}

// proxyEnd is the proxy's end of a Dial stream.
func proxyEnd(t *testing.T, frames [][]byte, payload []byte) {
	p := &peer{frames: frames, t: t}
	s := &serverStream{p: p}
	all, bad := decoded(frames)
	req, err := tunnel.Accept(s)
	if err != nil {
		if len(all) > 0 && all[0].GetDial().GetApp() != "" && all[0].GetDial().GetPort() <= 65535 {
			t.Fatalf("a valid dial request refused: %v", err)
		}
		return
	}
	if len(all) == 0 || req.GetApp() == "" || req.GetPort() > 65535 {
		t.Fatalf("accepted %v from %d frames (bad %v)", req, len(all), bad)
	}
	conn, err := tunnel.Established(s, "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if len(p.sent) != 1 || p.sent[0].GetResult() == nil || p.sent[0].GetResult().GetError() != "" {
		t.Fatalf("Established sent %v, want one successful result", p.sent)
	}
	checkRead(t, conn, all[1:])
	checkWrite(t, conn, p, 1, payload)
}

// answerEnd is the proxy's end of an agent's Connect stream.
func answerEnd(t *testing.T, frames [][]byte, payload []byte) {
	p := &peer{frames: frames, t: t}
	s := &serverStream{p: p}
	all, _ := decoded(frames)
	r, err := tunnel.AcceptAnswer(s)
	if err != nil {
		if len(all) > 0 && all[0].GetResult().GetDialId() != 0 {
			t.Fatalf("a valid answer refused: %v", err)
		}
		return
	}
	if r.GetDialId() == 0 {
		t.Fatalf("accepted an answer naming no dial: %v", r)
	}
	conn := tunnel.ServerConn(s, "fuzz")
	defer conn.Close()
	checkRead(t, conn, all[1:])
	checkWrite(t, conn, p, 0, payload)
}

// clientEnd is the laptop's end: Dial through a connection whose one
// stream is the peer.
func clientEnd(t *testing.T, frames [][]byte, payload []byte) {
	p := &peer{frames: frames, t: t}
	all, _ := decoded(frames)
	conn, err := tunnel.NewClient(&clientConn{p: p}, "fuzz.test").Dial(context.Background(), "db", 5432, "100.64.0.1:1234")
	if len(p.sent) == 0 || p.sent[0].GetDial().GetApp() != "db" || p.sent[0].GetDial().GetPort() != 5432 {
		t.Fatalf("Dial sent %v first, want the dial request", p.sent)
	}
	first := len(all) > 0 && all[0].GetResult() != nil && all[0].GetResult().GetError() == ""
	if err != nil {
		if first {
			t.Fatalf("a successful result refused: %v", err)
		}
		sentinels := []error{tunnel.ErrRefused, tunnel.ErrNotFound, tunnel.ErrDenied, tunnel.ErrTransport, tunnel.ErrLimit}
		if !slicesContainsIs(err, sentinels) {
			t.Errorf("dial error %v is none of the package's sentinels", err)
		}
		return
	}
	if !first {
		t.Fatalf("dialled without a successful result: %v", all)
	}
	defer conn.Close()
	checkRead(t, conn, all[1:])
	checkWrite(t, conn, p, 1, payload)
}

func slicesContainsIs(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// serverStream is a Dial or Connect stream on the proxy's side.
type serverStream struct {
	grpc.ServerStream // nil: only what the package calls is here
	p                 *peer
}

func (s *serverStream) Recv() (*api.Frame, error) { return s.p.recv() }
func (s *serverStream) Send(f *api.Frame) error   { return s.p.send(f) }
func (s *serverStream) Context() context.Context  { return context.Background() }
func (s *serverStream) RecvMsg(m any) error       { return s.p.recvMsg(m) }

// clientConn opens one stream, the peer's.
type clientConn struct{ p *peer }

func (c *clientConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return errors.New("no unary calls here")
}

func (c *clientConn) NewStream(ctx context.Context, _ *grpc.StreamDesc, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	return &clientStream{p: c.p, ctx: ctx}, nil
}

// clientStream is the laptop's side of a Dial stream.
type clientStream struct {
	p   *peer
	ctx context.Context
}

func (s *clientStream) Header() (metadata.MD, error) { return nil, nil }
func (s *clientStream) Trailer() metadata.MD         { return nil }
func (s *clientStream) CloseSend() error             { return nil }
func (s *clientStream) Context() context.Context     { return s.ctx }
func (s *clientStream) SendMsg(m any) error          { return s.p.send(m.(*api.Frame)) }

func (s *clientStream) RecvMsg(m any) error { return s.p.recvMsg(m) }
