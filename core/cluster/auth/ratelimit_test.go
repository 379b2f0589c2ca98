package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// limitTest is a Service with a fixed clock and users with the password
// "correct horse".
type limitTest struct {
	t   *testing.T
	s   *Service
	ctx context.Context
	pub []byte
	now time.Time
}

func newLimitTest(t *testing.T, users ...string) *limitTest {
	s, ctx := newTestService(t)
	_, pub := newPub(t)
	lt := &limitTest{t: t, s: s, ctx: ctx, pub: pub, now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.now = func() time.Time { return lt.now }
	for _, name := range users {
		token, _, err := s.AddUser(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.LoginWithToken(ctx, name, token, "correct horse", pub, "198.51.100.1"); err != nil {
			t.Fatal(err)
		}
	}
	return lt
}

func (lt *limitTest) login(user, pw, addr string) error {
	_, _, err := lt.s.LoginWithPassword(lt.ctx, user, pw, lt.pub, addr)
	return err
}

func (lt *limitTest) wantWait(err error, seconds int, what string) {
	lt.t.Helper()
	want := fmt.Sprintf("too many failed logins, try again in %d s", seconds)
	if !errors.Is(err, ErrTooManyLogins) || err.Error() != want {
		lt.t.Fatalf("%s: %v; want %q", what, err, want)
	}
}

// TestLoginBackoffPerUserAndSource: a guesser from one address gets a few
// free failures, then waits longer after each one; other users from that
// address and the same user elsewhere are not held back; a success from
// the address forgets its failures; a quiet while forgets everything.
func TestLoginBackoffPerUserAndSource(t *testing.T) {
	lt := newLimitTest(t, "alice", "bob")
	for i := 0; i < maxPairFailures; i++ {
		if err := lt.login("alice", "wrong horse!", "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	base := int(backoffBase / time.Second)
	for i, wait := range []int{base, 2 * base, 4 * base, 8 * base} {
		lt.wantWait(lt.login("alice", "correct horse", "192.0.2.1"), wait, fmt.Sprintf("back-off %d", i))
		lt.now = lt.now.Add(time.Duration(wait) * time.Second)
		if err := lt.login("alice", "wrong horse!", "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
			t.Fatalf("after waiting %d s: %v", wait, err)
		}
	}
	if err := lt.login("bob", "correct horse", "192.0.2.1"); err != nil {
		t.Fatalf("another user from the same address: %v", err)
	}
	if err := lt.login("alice", "correct horse", "192.0.2.2"); err != nil {
		t.Fatalf("the same user from another address: %v", err)
	}
	lt.now = lt.now.Add(16 * backoffBase)
	if err := lt.login("alice", "correct horse", "192.0.2.1"); err != nil {
		t.Fatalf("right password after the back-off: %v", err)
	}
	// The success forgot this address's failures for alice.
	if err := lt.login("alice", "wrong horse!", "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
		t.Fatalf("a failure after a success: %v", err)
	}

	// Per address: many names from one address.
	for i := 0; i < maxAddrFailures; i++ {
		_ = lt.login(fmt.Sprintf("user%d", i), "x", "192.0.2.9")
	}
	lt.wantWait(lt.login("bob", "correct horse", "192.0.2.9"), base, fmt.Sprintf("address after %d failures", maxAddrFailures))
	if err := lt.login("bob", "correct horse", "192.0.2.10"); err != nil {
		t.Fatalf("same user from another address: %v", err)
	}
	lt.now = lt.now.Add(forgetAfter)
	if err := lt.login("bob", "correct horse", "192.0.2.9"); err != nil {
		t.Fatalf("after %v: %v", forgetAfter, err)
	}
}

// TestStrangersCannotLockOutAUser: failures from many addresses push a
// user over the ceiling; the addresses that failed are held back, but the
// right password from an address that has not failed still works, and
// addresses that have not failed are only slowed (one try per
// cleanSpacing between them).
func TestStrangersCannotLockOutAUser(t *testing.T) {
	lt := newLimitTest(t, "alice")
	for a := 0; a*maxPairFailures < userCeiling+maxPairFailures; a++ {
		for i := 0; i < maxPairFailures; i++ {
			addr := fmt.Sprintf("203.0.113.%d", a)
			if err := lt.login("alice", "wrong horse!", addr); !errors.Is(err, ErrInvalidLogin) && !errors.Is(err, ErrTooManyLogins) {
				t.Fatalf("stranger %s: %v", addr, err)
			}
		}
	}
	if err := lt.login("alice", "wrong horse!", "203.0.113.0"); !errors.Is(err, ErrTooManyLogins) {
		t.Fatalf("a stranger's address over the ceiling: %v, want too many failed logins", err)
	}
	// The last stranger took the turn of addresses that have not failed.
	lt.wantWait(lt.login("alice", "correct horse", "192.0.2.1"), int(cleanSpacing/time.Second), "alice at once")
	lt.now = lt.now.Add(cleanSpacing)
	if err := lt.login("alice", "correct horse", "192.0.2.1"); err != nil {
		t.Fatalf("alice from her own address after strangers failed %d times: %v", userCeiling, err)
	}
	// Over the ceiling, addresses that have not failed take turns.
	if err := lt.login("alice", "wrong horse!", "203.0.113.200"); !errors.Is(err, ErrInvalidLogin) {
		t.Fatalf("a fresh address over the ceiling: %v", err)
	}
	lt.wantWait(lt.login("alice", "correct horse", "192.0.2.2"), int(cleanSpacing/time.Second), "the next fresh address at once")
	lt.now = lt.now.Add(cleanSpacing)
	if err := lt.login("alice", "correct horse", "192.0.2.2"); err != nil {
		t.Fatalf("a fresh address after %v: %v", cleanSpacing, err)
	}
	// A success gives the turn back.
	if err := lt.login("alice", "correct horse", "192.0.2.3"); err != nil {
		t.Fatalf("a fresh address after a success: %v", err)
	}
}

// TestConcurrentGuessesAreLimitedLikeSequentialOnes fires many wrong
// passwords from one address at once and counts how many reached bcrypt:
// exactly as many as sequential guesses would.
func TestConcurrentGuessesAreLimitedLikeSequentialOnes(t *testing.T) {
	const n = 4 * maxPairFailures
	lt := newLimitTest(t, "alice")
	lt.s.bcrypt = newBcryptPool(n) // the limit, not the pool, is under test
	var (
		mu               sync.Mutex
		entered, settled int
		all              = make(chan struct{})
	)
	// The compare hook holds every guess that reaches bcrypt until each of
	// the n has either reached it or been refused: without a reservation
	// before bcrypt, all n would get here.
	arrive := func(inHook bool) {
		mu.Lock()
		defer mu.Unlock()
		if inHook {
			entered++
		} else {
			settled++
		}
		if entered+settled == n {
			close(all)
		}
	}
	compare := lt.s.bcrypt.compare
	lt.s.bcrypt.compare = func(hash, pw []byte) error {
		arrive(true)
		<-all
		return compare(hash, pw)
	}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, _, err := lt.s.LoginWithPassword(lt.ctx, "alice", "wrong horse!", lt.pub, "192.0.2.1")
			if errors.Is(err, ErrTooManyLogins) {
				arrive(false)
			}
			errs <- err
		}()
	}
	var invalid, limited int
	for i := 0; i < n; i++ {
		switch err := <-errs; {
		case errors.Is(err, ErrInvalidLogin):
			invalid++
		case errors.Is(err, ErrTooManyLogins):
			limited++
		default:
			t.Errorf("guess: %v", err)
		}
	}
	if entered != maxPairFailures || invalid != maxPairFailures || limited != n-maxPairFailures {
		t.Fatalf("%d concurrent guesses: %d reached bcrypt, %d failed, %d were limited; want %d, %d, %d",
			n, entered, invalid, limited, maxPairFailures, maxPairFailures, n-maxPairFailures)
	}
}

// TestBcryptWorkIsBounded: with the proxy's bcrypt slots taken, another
// login waits for one and, if its caller gives up first, fails with
// ErrLoginBusy without running bcrypt; the attempt it reserved is given
// back.
func TestBcryptWorkIsBounded(t *testing.T) {
	const slots = 2
	lt := newLimitTest(t, "alice")
	lt.s.bcrypt = newBcryptPool(slots)
	var (
		mu                sync.Mutex
		inside, maxInside int
		calls             int
	)
	entered := make(chan struct{}, slots)
	release := make(chan struct{})
	compare := lt.s.bcrypt.compare
	lt.s.bcrypt.compare = func(hash, pw []byte) error {
		mu.Lock()
		inside++
		calls++
		maxInside = max(maxInside, inside)
		held := calls <= slots // the first ones hold the slots; later ones pass
		mu.Unlock()
		if held {
			entered <- struct{}{}
			<-release
		}
		mu.Lock()
		inside--
		mu.Unlock()
		return compare(hash, pw)
	}
	const n = 5
	errs := make(chan error, n)
	guess := func(i int) {
		errs <- lt.login(fmt.Sprintf("user%d", i), "whatever!", fmt.Sprintf("192.0.2.%d", i))
	}
	for i := 0; i < slots; i++ {
		go guess(i)
	}
	for i := 0; i < slots; i++ {
		<-entered
	}
	// Every slot is busy: a caller that may not wait is refused. (No
	// caller is waiting now, so maxWait is not read concurrently.)
	lt.s.bcrypt.maxWait = 0
	if _, _, err := lt.s.LoginWithPassword(lt.ctx, "alice", "correct horse", lt.pub, "192.0.2.100"); !errors.Is(err, ErrLoginBusy) {
		t.Fatalf("login with every bcrypt slot busy and no time to wait: %v, want %v", err, ErrLoginBusy)
	}
	if got := lt.s.limiter.counts[limitKey{kindPair, "alice", "192.0.2.100"}]; got != nil {
		t.Fatalf("the busy login stayed counted: %+v", got)
	}
	// Callers over the bound wait their turn.
	lt.s.bcrypt.maxWait = time.Minute
	for i := slots; i < n; i++ {
		go guess(i)
	}
	close(release)
	for i := 0; i < n; i++ {
		if err := <-errs; !errors.Is(err, ErrInvalidLogin) {
			t.Errorf("waiting login: %v", err)
		}
	}
	if maxInside > slots || calls != n {
		t.Fatalf("bcrypt ran %d times, at most %d at once; want %d, at most %d", calls, maxInside, n, slots)
	}
}

// TestSignupChecksTokenBeforeHashing: a sign-up with a wrong token does
// not hash the new password, and counts as a failed login.
func TestSignupChecksTokenBeforeHashing(t *testing.T) {
	lt := newLimitTest(t)
	token, _, err := lt.s.AddUser(lt.ctx, "carol", nil)
	if err != nil {
		t.Fatal(err)
	}
	var hashes int
	generate := lt.s.bcrypt.generate
	lt.s.bcrypt.generate = func(pw []byte, cost int) ([]byte, error) {
		hashes++
		return generate(pw, cost)
	}
	wrong := strings.Repeat("0", len(token))
	for i := 0; i < maxPairFailures; i++ {
		if _, _, err := lt.s.LoginWithToken(lt.ctx, "carol", wrong, "correct horse", lt.pub, "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
			t.Fatalf("wrong token %d: %v", i, err)
		}
	}
	if _, _, err := lt.s.LoginWithToken(lt.ctx, "carol", token, "correct horse", lt.pub, "192.0.2.1"); !errors.Is(err, ErrTooManyLogins) {
		t.Fatalf("after %d wrong tokens: %v, want too many failed logins", maxPairFailures, err)
	}
	if hashes != 0 {
		t.Fatalf("sign-ups with a wrong token hashed %d new passwords, want 0", hashes)
	}
	if _, _, err := lt.s.LoginWithToken(lt.ctx, "carol", token, "correct horse", lt.pub, "192.0.2.2"); err != nil || hashes != 1 {
		t.Fatalf("sign-up with the token: %v, %d hashes; want nil, 1", err, hashes)
	}
}

// TestLoginFieldsAreBounded: an oversized field of a login is refused with
// one line naming it, before the limiter or bcrypt see it.
func TestLoginFieldsAreBounded(t *testing.T) {
	lt := newLimitTest(t)
	var hashes int
	lt.s.bcrypt.compare = func([]byte, []byte) error { hashes++; return errors.New("no") }
	lt.s.bcrypt.generate = func([]byte, int) ([]byte, error) { hashes++; return nil, errors.New("no") }
	long := strings.Repeat("a", 10_000)
	for _, tc := range []struct {
		name, want string
		login      func() error
	}{
		{"user name", "user name is too long (10000 bytes, at most 64)", func() error { return lt.login(long, "correct horse", "192.0.2.1") }},
		{"password", "password is too long (10000 bytes, at most 72)", func() error { return lt.login("alice", long, "192.0.2.1") }},
		{"public key", "public key is too long (10000 bytes, at most 4096)", func() error {
			_, _, err := lt.s.LoginWithPassword(lt.ctx, "alice", "correct horse", []byte(long), "192.0.2.1")
			return err
		}},
		{"token", "token is too long (10000 bytes, at most 128)", func() error {
			_, _, err := lt.s.LoginWithToken(lt.ctx, "alice", long, "", lt.pub, "192.0.2.1")
			return err
		}},
		{"new password", "new password is too long (10000 bytes, at most 72)", func() error {
			_, _, err := lt.s.LoginWithToken(lt.ctx, "alice", "00", long, lt.pub, "192.0.2.1")
			return err
		}},
		{"user name at sign-up", "user name is too long", func() error {
			_, _, err := lt.s.LoginWithToken(lt.ctx, long, "00", "", lt.pub, "192.0.2.1")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.login(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if hashes != 0 || len(lt.s.limiter.counts) != 0 {
		t.Fatalf("oversized logins reached bcrypt %d times and left %d counts", hashes, len(lt.s.limiter.counts))
	}
}

// TestLimiterEvictsOldest: a spray of fresh names fills the limiter; it
// stays within maxLimiterKeys and forgets the oldest counts, never the
// recent ones.
func TestLimiterEvictsOldest(t *testing.T) {
	l := newLoginLimiter()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = maxLimiterKeys // each attempt adds a pair and a user count
	for i := 0; i < n; i++ {
		r, err := l.reserve(start.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("u%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		r.settle(false)
		if len(l.counts) > maxLimiterKeys {
			t.Fatalf("after %d names the limiter holds %d counts, bound %d", i+1, len(l.counts), maxLimiterKeys)
		}
	}
	for i := n - 1000; i < n; i++ {
		if l.counts[limitKey{kindUser, fmt.Sprintf("u%d", i), ""}] == nil {
			t.Fatalf("the failure of u%d, among the latest 1000, was forgotten", i)
		}
	}
	if l.counts[limitKey{kindUser, "u0", ""}] != nil {
		t.Fatal("the oldest failure is still tracked")
	}
}

// TestIPv6SourcesCountPerPrefix: the addresses of one IPv6 /64 are one
// source, so a guesser cannot rotate through them for fresh budgets.
func TestIPv6SourcesCountPerPrefix(t *testing.T) {
	lt := newLimitTest(t, "alice")
	for i := 0; i < maxPairFailures; i++ {
		if err := lt.login("alice", "wrong horse!", fmt.Sprintf("2001:db8:1:2::%x", i+1)); !errors.Is(err, ErrInvalidLogin) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if err := lt.login("alice", "correct horse", "2001:db8:1:2::ffff"); !errors.Is(err, ErrTooManyLogins) {
		t.Fatalf("another address of the same /64: %v, want too many failed logins", err)
	}
	if err := lt.login("alice", "correct horse", "2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if got := sourceKey("192.0.2.1"); got != "192.0.2.1" {
		t.Errorf("sourceKey(IPv4) = %q", got)
	}
}
