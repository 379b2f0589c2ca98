package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLoop(t *testing.T) {
	errFinal := errors.New("final")
	tests := []struct {
		name     string
		results  []error // what each session returns, in turn
		ok       bool    // every session got going
		want     error
		sessions int
		// maxWait bounds every wait: Min after sessions that got going,
		// growing otherwise.
		maxWait []time.Duration
	}{
		{"stops at a final error", []error{errors.New("a"), errors.New("b"), errFinal}, false, errFinal, 3, []time.Duration{Min, 2 * Min}},
		{"a session that got going resets the delay", []error{errors.New("a"), errors.New("b"), errFinal}, true, errFinal, 3, []time.Duration{Min, Min}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			var waits []time.Duration
			err := Loop(context.Background(), func(context.Context) (bool, error) {
				n++
				return tt.ok, tt.results[n-1]
			}, func(wait time.Duration, err error) {
				waits = append(waits, wait)
			}, func(err error) bool { return errors.Is(err, errFinal) })
			if !errors.Is(err, tt.want) || n != tt.sessions {
				t.Fatalf("Loop = %v after %d sessions, want %v after %d", err, n, tt.want, tt.sessions)
			}
			for i, w := range waits {
				if w < tt.maxWait[i]/2 || w > tt.maxWait[i] {
					t.Errorf("wait %d = %v, want within [%v, %v]", i, w, tt.maxWait[i]/2, tt.maxWait[i])
				}
			}
		})
	}
}

func TestLoopEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := Loop(ctx, func(context.Context) (bool, error) {
		cancel()
		return false, errors.New("broken")
	}, func(time.Duration, error) { t.Error("retried after the context ended") }, nil)
	if err != nil {
		t.Errorf("Loop = %v, want nil when the context ends", err)
	}
}

// TestPolicyCapsAtMax: a Policy's delay doubles from its Min and stops at
// its Max (the catalog's watch uses a shorter Max than reverse tunnels).
func TestPolicyCapsAtMax(t *testing.T) {
	p := Policy{Min: time.Millisecond, Max: 4 * time.Millisecond}
	n := 0
	var waits []time.Duration
	errStop := errors.New("stop")
	err := p.Loop(context.Background(), func(context.Context) (bool, error) {
		n++
		if n == 6 {
			return false, errStop
		}
		return false, errors.New("broken")
	}, func(wait time.Duration, err error) { waits = append(waits, wait) }, func(err error) bool { return errors.Is(err, errStop) })
	if !errors.Is(err, errStop) {
		t.Fatalf("Loop = %v", err)
	}
	for i, max := range []time.Duration{1, 2, 4, 4, 4} {
		max *= time.Millisecond
		if w := waits[i]; w < max/2 || w > max {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, w, max/2, max)
		}
	}
}
