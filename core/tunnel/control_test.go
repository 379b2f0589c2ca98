package tunnel

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

// fakeMessages replays msgs, then ends with end.
type fakeMessages struct {
	msgs []*api.ProxyMessage
	end  error
}

func (f *fakeMessages) Recv() (*api.ProxyMessage, error) {
	if len(f.msgs) == 0 {
		return nil, f.end
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}

func TestReadControl(t *testing.T) {
	welcome := &api.ProxyMessage{Welcome: &api.AgentWelcome{HeartbeatMillis: 300, ClusterName: "c"}}
	dial := &api.ProxyMessage{Dial: &api.AgentDial{Id: 1}}
	tests := []struct {
		name       string
		msgs       []*api.ProxyMessage
		wantErr    bool
		wantHandle int // messages handed to handle (the first welcome never is)
		wantBeat   time.Duration
	}{
		{"welcome, then a dial and another welcome", []*api.ProxyMessage{welcome, dial, welcome}, false, 2, 300 * time.Millisecond},
		{"a dial before the welcome is handled too", []*api.ProxyMessage{dial, welcome}, false, 1, 300 * time.Millisecond},
		{"a welcome without interval", []*api.ProxyMessage{{Welcome: &api.AgentWelcome{}}}, false, 0, DefaultHeartbeat},
		{"the stream ends before a welcome", []*api.ProxyMessage{dial}, true, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handled := make(chan *api.ProxyMessage, 10)
			w, recvErr, err := ReadControl(context.Background(), &fakeMessages{msgs: tt.msgs, end: io.EOF}, func(m *api.ProxyMessage) { handled <- m }, time.Minute)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ReadControl: %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if got := HeartbeatOf(w); got != tt.wantBeat {
					t.Errorf("heartbeat %v, want %v", got, tt.wantBeat)
				}
				if err := <-recvErr; !errors.Is(err, io.EOF) {
					t.Errorf("end of stream: %v, want EOF", err)
				}
			}
			if len(handled) != tt.wantHandle {
				t.Errorf("%d messages handled, want %d", len(handled), tt.wantHandle)
			}
		})
	}
}
