package audit

import (
	"context"
	"fmt"
	"time"
)

// DefaultRetention is how long events are kept when Config.Retention is
// not set: 90 days.
const DefaultRetention = 90 * 24 * time.Hour

// pruneEvery is how often old events are looked for (and at start).
func pruneEvery(retention time.Duration) time.Duration {
	return min(retention/10, time.Hour)
}

// prune runs until stop is closed, deleting events older than the
// retention so that the log does not grow without end.
func (l *Log) prune(stop <-chan struct{}) {
	defer l.pruneWG.Done()
	t := time.NewTicker(pruneEvery(l.cfg.Retention))
	defer t.Stop()
	for {
		if n, err := l.PruneBefore(context.Background(), l.cfg.Now().Add(-l.cfg.Retention)); err != nil {
			l.cfg.Logger.Warn("audit: pruning old events", "err", err)
		} else if n > 0 {
			l.cfg.Logger.Info("audit: old events deleted", "count", n, "retention", l.cfg.Retention)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// PruneBefore deletes every event older than cutoff and says how many.
// Keys sort by time, so the comparison needs no decoding.
func (l *Log) PruneBefore(ctx context.Context, cutoff time.Time) (int, error) {
	items, err := l.cfg.Store.List(ctx, Prefix)
	if err != nil {
		return 0, err
	}
	limit := fmt.Sprintf("%s%020d", Prefix, cutoff.UnixNano())
	n := 0
	for _, it := range items {
		if it.Key >= limit {
			break // sorted: the rest are newer
		}
		if err := l.cfg.Store.Delete(ctx, it.Key); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
