package auth

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// ErrTooManyLogins: the user or the address has failed to log in too
// often lately; the error wrapping it says for how long to wait.
var ErrTooManyLogins = errors.New("too many failed logins")

// Limits on failed logins. Three counts are kept, each with back-off once
// its free failures are used up (15 s, 30 s, 1 min, ... up to maxBackoff
// after the latest failure):
//
//   - per (user, source address): a password guesser from one address;
//   - per source address, over all users: a sprayer of names (more free
//     failures: it may be a NAT shared by many users);
//   - per user, over all sources: a ceiling against a guesser with many
//     addresses. Over it, sources that have failed for the user wait out
//     the user's back-off, and sources that have not failed are slowed,
//     not locked out: they share one attempt per cleanSpacing. A stranger
//     therefore cannot lock a user out by failing on purpose.
//
// Every attempt is counted before the password is checked (reserve) and
// given back if it succeeds (settle), so concurrent guesses are limited
// exactly like sequential ones. A count is forgotten forgetAfter after its
// latest failure.
const (
	maxPairFailures = 5
	maxAddrFailures = 20
	userCeiling     = 30
	backoffBase     = 15 * time.Second
	maxBackoff      = 5 * time.Minute
	forgetAfter     = 15 * time.Minute
	cleanSpacing    = 5 * time.Second
	// maxLimiterKeys bounds the limiter's memory against a spray of names
	// or addresses; the counts with the oldest failures go first.
	maxLimiterKeys = 10_000
)

type limitKind uint8

const (
	kindPair limitKind = iota // user and source
	kindAddr                  // source
	kindUser                  // user
)

// limitKey names one count; a struct, so that no user name can be made to
// collide with another key.
type limitKey struct {
	kind         limitKind
	user, source string
}

// attempts is one count.
type attempts struct {
	n    int       // failures (and attempts in flight) not yet forgotten
	last time.Time // of the latest counted attempt
	// slot is when a source that had not failed for this user last took
	// the shared attempt over the ceiling (kindUser only); zero if free.
	slot time.Time
}

// wait is how long a count of n attempts, free of which are free, holds
// the next attempt back.
func (a *attempts) wait(now time.Time, free int) time.Duration {
	if a == nil || a.n < free {
		return 0
	}
	d := maxBackoff
	if k := a.n - free; k < 20 {
		d = min(backoffBase<<k, maxBackoff)
	}
	return a.last.Add(d).Sub(now)
}

// loginLimiter counts recent login attempts. It lives in one process:
// with several proxies each counts its own, which multiplies the limit by
// their number but keeps it bounded.
type loginLimiter struct {
	mu     sync.Mutex
	counts map[limitKey]*attempts // guarded by mu; at most maxLimiterKeys, none forgotten once pruned
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{counts: make(map[limitKey]*attempts)}
}

// reservation is one counted login attempt, to be settled once its
// outcome is known.
type reservation struct {
	l            *loginLimiter
	user, source string
	tookSlot     bool
	done         bool // guarded by l.mu
}

// reserve counts an attempt of user from source, or returns an error
// matching ErrTooManyLogins if they must wait. The caller settles the
// reservation (or releases it if no password was checked).
func (l *loginLimiter) reserve(now time.Time, user, source string) (*reservation, error) {
	source = sourceKey(source)
	l.mu.Lock()
	defer l.mu.Unlock()
	pair := l.get(limitKey{kindPair, user, source}, now)
	var addr *attempts
	if source != "" {
		addr = l.get(limitKey{kindAddr, "", source}, now)
	}
	usr := l.get(limitKey{kindUser, user, ""}, now)
	wait := max(pair.wait(now, maxPairFailures), addr.wait(now, maxAddrFailures))
	tookSlot := false
	if usr != nil && usr.n >= userCeiling {
		if pair != nil && pair.n > 0 {
			wait = max(wait, usr.wait(now, userCeiling))
		} else if !usr.slot.IsZero() {
			wait = max(wait, usr.slot.Add(cleanSpacing).Sub(now))
		}
		tookSlot = pair == nil || pair.n == 0
	}
	if wait > 0 {
		return nil, fmt.Errorf("%w, try again in %d s", ErrTooManyLogins, int(math.Ceil(wait.Seconds())))
	}
	for _, k := range keysFor(user, source) {
		a := l.counts[k]
		if a == nil {
			l.makeRoom(now)
			a = &attempts{}
			l.counts[k] = a
		}
		a.n++
		a.last = now
		if k.kind == kindUser && tookSlot {
			a.slot = now
		}
	}
	return &reservation{l: l, user: user, source: source, tookSlot: tookSlot}, nil
}

// settle records the outcome of the attempt: a failure stays counted; a
// success is given back and forgets the failures of this user from this
// source (not the address's or the user's: one good password must not
// reset a guesser's budget). Only the first settle or release counts.
func (r *reservation) settle(ok bool) {
	r.finish(ok, ok)
}

// release gives the attempt back: no password was checked.
func (r *reservation) release() { r.finish(true, false) }

func (r *reservation) finish(giveBack, forgetPair bool) {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.done || !giveBack {
		r.done = true
		return
	}
	r.done = true
	for _, k := range keysFor(r.user, r.source) {
		a := l.counts[k]
		if a == nil {
			continue // evicted meanwhile
		}
		if a.n--; a.n <= 0 || (k.kind == kindPair && forgetPair) {
			a.n = 0
		}
		if k.kind == kindUser && r.tookSlot {
			a.slot = time.Time{}
		}
		if a.n == 0 && a.slot.IsZero() {
			delete(l.counts, k)
		}
	}
}

// forgetUser drops every count of user (a new user of that name starts
// afresh); counts per address stay.
func (l *loginLimiter) forgetUser(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.counts {
		if k.kind != kindAddr && k.user == user {
			delete(l.counts, k)
		}
	}
}

// get returns key's count, or nil if it has none or it is forgotten;
// l.mu is held.
func (l *loginLimiter) get(key limitKey, now time.Time) *attempts {
	a := l.counts[key]
	if a != nil && now.Sub(a.last) >= forgetAfter {
		delete(l.counts, key)
		return nil
	}
	return a
}

// makeRoom is called before a new key is added: if the map is full it
// drops forgotten counts and then, if that leaves it more than 90% full,
// the counts whose latest attempt is oldest, down to 90%. A flood of fresh
// names or addresses then forgets the oldest failures, never the recent
// ones, and never costs unbounded memory; pruning runs at most once per
// 10% of new keys. l.mu is held.
func (l *loginLimiter) makeRoom(now time.Time) {
	if len(l.counts) < maxLimiterKeys {
		return
	}
	type aged struct {
		key  limitKey
		last time.Time
	}
	all := make([]aged, 0, len(l.counts))
	for k, a := range l.counts {
		if now.Sub(a.last) >= forgetAfter {
			delete(l.counts, k)
			continue
		}
		all = append(all, aged{k, a.last})
	}
	excess := len(l.counts) - maxLimiterKeys*9/10
	if excess <= 0 {
		return
	}
	slices.SortFunc(all, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range all[:excess] {
		delete(l.counts, a.key)
	}
}

// keysFor returns the counts an attempt of user from source adds to; an
// unknown source (no peer address) has no count of its own.
func keysFor(user, source string) []limitKey {
	keys := []limitKey{{kindPair, user, source}, {kindUser, user, ""}}
	if source != "" {
		keys = append(keys, limitKey{kindAddr, "", source})
	}
	return keys
}

// sourceKey is what a source address is counted as: an IPv6 address by
// its /64, which one host or site typically holds whole (counting each
// address would give it 2^64 budgets); anything else as it is.
func sourceKey(source string) string {
	ip, err := netip.ParseAddr(source)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return source
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}
