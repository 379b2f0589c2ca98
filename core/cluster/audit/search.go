package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// DefaultLimit is how many events Search returns when Query.Limit is 0.
const DefaultLimit = 1000

// Query selects events. Zero fields select everything.
type Query struct {
	Since, Until time.Time
	User, App    string
	Types        []string
	// Limit keeps the newest Limit matches; DefaultLimit if 0.
	Limit int
}

// Search returns the events that match q, oldest first.
//
// It reads every stored event (the store lists by prefix only), so its
// cost grows with the log; keys sort by time, so skipping by key before
// decoding keeps the decoding to the selected window.
func Search(ctx context.Context, st store.Store, q Query) ([]Event, error) {
	items, err := st.List(ctx, Prefix)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var sinceKey, untilKey string
	if !q.Since.IsZero() {
		sinceKey = fmt.Sprintf("%s%020d", Prefix, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		untilKey = fmt.Sprintf("%s%020d", Prefix, q.Until.UnixNano())
	}
	var out []Event
	for _, it := range items {
		if (sinceKey != "" && it.Key < sinceKey) || (untilKey != "" && it.Key >= untilKey) {
			continue
		}
		var ev Event
		if err := json.Unmarshal(it.Value, &ev); err != nil {
			return nil, fmt.Errorf("stored audit event %s is damaged: %w", strings.TrimPrefix(it.Key, Prefix), err)
		}
		if q.matches(ev) {
			out = append(out, ev)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

func (q Query) matches(ev Event) bool {
	if q.User != "" && ev.User != q.User {
		return false
	}
	if q.App != "" && ev.App != q.App {
		return false
	}
	if len(q.Types) > 0 {
		for _, t := range q.Types {
			if ev.Type == t {
				return true
			}
		}
		return false
	}
	return true
}

// Search reads the events of the store l writes to.
func (l *Log) Search(ctx context.Context, q Query) ([]Event, error) {
	return Search(ctx, l.cfg.Store, q)
}
