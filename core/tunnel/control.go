package tunnel

import (
	"context"
	"errors"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

// DefaultHeartbeat is the heartbeat interval of a control stream whose
// welcome names none.
const DefaultHeartbeat = 5 * time.Second

// ProxyMessages is the receiving side of a control stream (an agent's
// Agent.Control or a leaf cluster's Trust.Control).
type ProxyMessages interface {
	Recv() (*api.ProxyMessage, error)
}

// ReadControl starts the one reader of a control stream: every message
// but the first welcome goes to handle (on the reader's goroutine, which
// must not block long). It returns the first welcome, and the channel
// that will carry the error the stream ends with; or an error if the
// stream ended, timeout passed or ctx was done (then ctx.Err()) before a
// welcome came.
func ReadControl(ctx context.Context, st ProxyMessages, handle func(*api.ProxyMessage), timeout time.Duration) (*api.AgentWelcome, <-chan error, error) {
	welcomes := make(chan *api.AgentWelcome, 1)
	recvErr := make(chan error, 1)
	go func() {
		first := true
		for {
			m, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if w := m.GetWelcome(); w != nil && first {
				first = false
				welcomes <- w
				continue
			}
			handle(m)
		}
	}()
	select {
	case w := <-welcomes:
		return w, recvErr, nil
	case err := <-recvErr:
		select {
		case w := <-welcomes:
			// The stream ended right after its welcome and select
			// happened to pick the end: the welcome still counts.
			ended := make(chan error, 1)
			ended <- err
			return w, ended, nil
		default:
		}
		return nil, nil, err
	case <-time.After(timeout):
		return nil, nil, errors.New("no welcome from the proxy")
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// HeartbeatOf is the interval a welcome asks for.
func HeartbeatOf(w *api.AgentWelcome) time.Duration {
	if beat := time.Duration(w.GetHeartbeatMillis()) * time.Millisecond; beat > 0 {
		return beat
	}
	return DefaultHeartbeat
}
