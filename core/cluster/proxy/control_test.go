package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
)

// fakeControl is a control stream whose machine's messages come from in.
type fakeControl struct {
	ctx  context.Context
	in   chan string // "" is a heartbeat; "EOF" ends the stream
	sent chan *api.ProxyMessage
}

func (f *fakeControl) Context() context.Context { return f.ctx }

func (f *fakeControl) Recv() (string, error) {
	select {
	case m := <-f.in:
		if m == "EOF" {
			return "", io.EOF
		}
		return m, nil
	case <-f.ctx.Done():
		return "", status.Error(codes.Canceled, "stream ended")
	}
}

func (f *fakeControl) Send(m *api.ProxyMessage) error { f.sent <- m; return nil }

// fakeHandler says goodbye on "bye" and ends with its removedErr when
// removed.
type fakeHandler struct{ removedErr error }

func (h *fakeHandler) begin(context.Context) error { return nil }

func (h *fakeHandler) handle(_ context.Context, m string) (bool, error) { return m == "bye", nil }

func (h *fakeHandler) removed() error { return h.removedErr }

// TestControlLoop: the loop agents and leaves share ends a stream on
// goodbye, end of stream, missed heartbeats, removal and the proxy's
// stop, each with its own result, and detaches the link every time.
func TestControlLoop(t *testing.T) {
	gone := errors.New("removed")
	for _, tt := range []struct {
		name  string
		beats time.Duration
		do    func(f *fakeControl, l *agentLink, stop context.CancelFunc)
		want  codes.Code
		err   error // when want is OK
	}{
		{name: "goodbye", beats: time.Hour, do: func(f *fakeControl, _ *agentLink, _ context.CancelFunc) { f.in <- ""; f.in <- "bye" }},
		{name: "end of stream", beats: time.Hour, do: func(f *fakeControl, _ *agentLink, _ context.CancelFunc) { f.in <- "EOF" }},
		{name: "removed", beats: time.Hour, do: func(_ *fakeControl, l *agentLink, _ context.CancelFunc) { l.remove() }, err: gone},
		{name: "proxy stops", beats: time.Hour, do: func(_ *fakeControl, _ *agentLink, stop context.CancelFunc) { stop() }, want: codes.Unavailable},
		// Nothing sent: the deadline (short, so that the test ends soon)
		// cuts it off whenever it passes.
		{name: "missed heartbeats", beats: time.Millisecond, do: func(*fakeControl, *agentLink, context.CancelFunc) {}, want: codes.DeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			proxyCtx, stop := context.WithCancel(context.Background())
			defer stop()
			f := &fakeControl{ctx: ctx, in: make(chan string), sent: make(chan *api.ProxyMessage, 1)}
			link := newAgentLink("a1", "")
			var links linkSet[agentLink]
			c := &control[string]{
				kind: "agent", key: "agent", name: "a1", link: link,
				beats: tt.beats, stopping: proxyCtx.Done(), log: slog.New(slog.DiscardHandler),
				attach: func() bool { return links.attach("a1", link) != nil },
				detach: func() { links.detach("a1", link) },
				h:      &fakeHandler{removedErr: gone},
			}
			done := make(chan error, 1)
			go func() { done <- c.serve(f) }()
			tt.do(f, link, stop)
			err := <-done
			switch {
			case tt.want != codes.OK && status.Code(err) != tt.want:
				t.Errorf("serve = %v, want code %v", err, tt.want)
			case tt.want == codes.OK && !errors.Is(err, tt.err):
				t.Errorf("serve = %v, want %v", err, tt.err)
			}
			if links.get("a1") != nil {
				t.Error("the link is still attached after its stream ended")
			}
			select {
			case <-link.done:
			default:
				t.Error("link.done is open after the stream ended")
			}
		})
	}
}
