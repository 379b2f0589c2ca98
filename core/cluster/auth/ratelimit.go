package auth

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// ErrTooManyLogins: the user or the address has failed to log in too
// often lately; the error wrapping it says for how long to wait.
var ErrTooManyLogins = errors.New("too many failed logins")

// Limits on failed logins. A user is held back after a few failures (a
// password guesser); an address after more (it may be a NAT shared by
// many users). Failures are forgotten loginWindow after they happened.
const (
	maxUserFailures = 5
	maxAddrFailures = 20
	loginWindow     = 5 * time.Minute
	// maxLimiterKeys bounds the limiter's memory against a spray of names
	// or addresses.
	maxLimiterKeys = 10_000
)

// loginLimiter remembers recent failed logins per user and per source
// address. It lives in one process: with several proxies each counts its
// own, which multiplies the limit by their number but keeps it bounded.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time // guarded by mu; oldest first, at most the key's limit, none older than loginWindow once pruned
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{fails: make(map[string][]time.Time)}
}

func userKey(user string) string { return "user:" + user }
func addrKey(addr string) string { return "addr:" + addr }

// limitOf is how many failures a key may have within loginWindow.
func limitOf(key string) int {
	if strings.HasPrefix(key, "user:") {
		return maxUserFailures
	}
	return maxAddrFailures
}

// check returns an error if user or source may not try again yet.
func (l *loginLimiter) check(now time.Time, user, source string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, key := range keysFor(user, source) {
		ts := l.recent(key, now)
		if len(ts) >= limitOf(key) {
			wait = max(wait, ts[0].Add(loginWindow).Sub(now))
		}
	}
	if wait <= 0 {
		return nil
	}
	return fmt.Errorf("%w, try again in %d s", ErrTooManyLogins, int(math.Ceil(wait.Seconds())))
}

// failed records a failed login of user from source.
func (l *loginLimiter) failed(now time.Time, user, source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxLimiterKeys {
		l.prune(now)
	}
	for _, key := range keysFor(user, source) {
		ts := append(l.recent(key, now), now)
		if n := limitOf(key); len(ts) > n {
			ts = ts[len(ts)-n:]
		}
		l.fails[key] = ts
	}
}

// succeeded forgets user's failures (not the address's: one good password
// must not reset a guesser's budget for the other users).
func (l *loginLimiter) succeeded(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, userKey(user))
}

// recent returns key's failures within loginWindow; l.mu is held.
func (l *loginLimiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= loginWindow {
		i++
	}
	return ts[i:]
}

// prune drops keys without recent failures and, if that leaves the map
// more than 90% full, arbitrary keys down to 90%: a flood of fresh names
// then forgets some failures (the flooder's own, mostly) but never costs
// unbounded memory, and pruning runs at most once per 10% of new keys.
// l.mu is held.
func (l *loginLimiter) prune(now time.Time) {
	for k := range l.fails {
		if len(l.recent(k, now)) == 0 {
			delete(l.fails, k)
		}
	}
	for k := range l.fails {
		if len(l.fails) <= maxLimiterKeys*9/10 {
			break
		}
		delete(l.fails, k)
	}
}

func keysFor(user, source string) []string {
	keys := []string{userKey(user)}
	if source != "" {
		keys = append(keys, addrKey(source))
	}
	return keys
}
