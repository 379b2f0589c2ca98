// Package backoff keeps a long-lived session up (an agent's or a leaf
// cluster's reverse tunnel, a laptop's catalog watch): it runs it again
// after every end, waiting a jittered, doubling delay, so that machines cut
// off together do not come back together.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// The delay of reverse tunnels (Loop) starts at Min, doubles after each
// failed session up to Max, and goes back to Min after a session that got
// going.
const (
	Min = 250 * time.Millisecond
	Max = 30 * time.Second
)

// Policy is a delay that starts at Min, doubles after each failed session
// up to Max, and goes back to Min after a session that got going. Each
// wait is drawn from [delay/2, delay].
type Policy struct{ Min, Max time.Duration }

// Loop is Loop with the reverse tunnels' Policy{Min, Max}.
func Loop(ctx context.Context, session func(context.Context) (ok bool, err error), retry func(wait time.Duration, err error), final func(error) bool) error {
	return Policy{Min, Max}.Loop(ctx, session, retry, final)
}

// Loop runs session until ctx is done or final(err) holds for the error
// it ended with (final may be nil). session reports whether it got going
// (registered, welcomed, sent an offer), which resets the delay. Before
// each wait, retry is told how long and why.
func (p Policy) Loop(ctx context.Context, session func(context.Context) (ok bool, err error), retry func(wait time.Duration, err error), final func(error) bool) error {
	delay := p.Min
	for {
		ok, err := session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if final != nil && final(err) {
			return err
		}
		if ok {
			delay = p.Min
		}
		wait := delay/2 + rand.N(delay/2+1)
		retry(wait, err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		delay = min(2*delay, p.Max)
	}
}
