package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch implements Store with etcd's own watch, so every proxy on one
// etcd sees every other's writes as they commit. The watch requires a
// leader: with quorum lost it ends (with etcd's error) instead of
// silently delivering nothing, and the watcher can say the store is
// unavailable.
func (e *Etcd) Watch(ctx context.Context, prefix string, after int64) <-chan Batch {
	out := make(chan Batch)
	if err := e.check(ctx, "", true); err != nil {
		go func() {
			defer close(out)
			select {
			case out <- Batch{Err: err}:
			case <-ctx.Done():
			}
		}()
		return out
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := e.cli.Watch(wctx, e.prefix+prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1))
	go func() {
		defer close(out)
		defer cancel()
		send := func(b Batch) bool {
			select {
			case out <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for res := range wch {
			if res.CompactRevision != 0 {
				send(Batch{Err: fmt.Errorf("watch %q from revision %d: %w", prefix, after, ErrCompacted)})
				return
			}
			if err := res.Err(); err != nil {
				send(Batch{Err: e.watchErr(ctx, prefix, err)})
				return
			}
			if len(res.Events) == 0 {
				continue // a progress notice
			}
			b := Batch{Events: make([]Event, 0, len(res.Events))}
			for _, ev := range res.Events {
				b.Events = append(b.Events, Event{
					Revision: ev.Kv.ModRevision,
					Key:      strings.TrimPrefix(string(ev.Kv.Key), e.prefix),
					Value:    valueOf(ev),
					Deleted:  ev.Type == clientv3.EventTypeDelete,
				})
				after = ev.Kv.ModRevision
			}
			if !send(b) {
				return
			}
		}
		// The client closes the channel when ctx ends or the client is
		// closed; only the latter is the watcher's to hear about.
		if ctx.Err() == nil {
			send(Batch{Err: e.watchErr(ctx, prefix, errors.New("watch closed"))})
		}
	}()
	return out
}

func valueOf(ev *clientv3.Event) []byte {
	if ev.Type == clientv3.EventTypeDelete {
		return nil
	}
	return clone(ev.Kv.Value)
}

// watchErr is wrap for a watch: ErrClosed after Close, else the cause.
func (e *Etcd) watchErr(ctx context.Context, prefix string, err error) error {
	if e.closed.Load() {
		return ErrClosed
	}
	return e.wrap(ctx, "watch", prefix, err)
}
