package audit

import (
	"fmt"
	"unicode/utf8"
)

// Length bounds of an event's string fields, in bytes. Most of what an
// event holds comes from a client (an app name, a port's target, an
// address, an error that quotes them): a bounded record keeps one client
// from filling the store, the writer's queue or an operator's terminal.
const (
	// MaxFieldLen bounds every string field but Error: names and
	// addresses.
	MaxFieldLen = 256
	// MaxErrorLen bounds Error, which quotes the names it refuses.
	MaxErrorLen = 1024
)

// Bounded returns ev with every string field cut to its bound (cut at a
// rune, with a marker that says how much was left out). Log.Emit bounds
// every event it queues.
func (ev Event) Bounded() Event {
	for _, f := range []*string{&ev.Type, &ev.SessionID, &ev.User, &ev.Cluster, &ev.App, &ev.Target, &ev.ClientAddr, &ev.ClientReportedAddr} {
		*f = bound(*f, MaxFieldLen)
	}
	ev.Error = bound(ev.Error, MaxErrorLen)
	return ev
}

// bound returns s, or a prefix of s and a marker of how many bytes were cut,
// n bytes at most in all.
func bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// The marker's length depends on how much is cut; 32 bytes holds it
	// for any string length.
	keep := n - 32
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return fmt.Sprintf("%s…(%d more bytes)", s[:keep], len(s)-keep)
}
