package profile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultWatchInterval is how often Watch looks at the profiles: a login
// or a logout reaches a running VNet within about this long.
const DefaultWatchInterval = time.Second

// Watch calls changed with the profiles under home now and after every
// login, re-login or logout, until ctx is done. It polls every interval
// (DefaultWatchInterval if zero): profiles are a handful of small files,
// and polling works the same for every OS and for a home written by
// another user (sudo vnet up).
//
// A login writes a profile's files one by one, so a profile may be seen
// half-written (a new certificate beside the old key). A profile that does
// not load, or whose key does not match its certificate, is taken as it
// was last seen whole (or left out, if never) until it loads again.
func Watch(ctx context.Context, home string, interval time.Duration, log *slog.Logger, changed func([]*Profile)) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	if log == nil {
		log = slog.Default()
	}
	w := &watcher{home: home, log: log, last: map[string]seen{}}
	first := true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ps, diff := w.scan(); diff || first {
			first = false
			changed(ps)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// seen is a profile as last loaded whole, and the fingerprint of its
// files then.
type seen struct {
	sum     [sha256.Size]byte
	profile *Profile // nil: never loaded whole
	bad     bool     // the last attempt failed (logged once)
}

type watcher struct {
	home string
	log  *slog.Logger
	last map[string]seen // by folder name
}

// scan reads every profile folder and reports the whole profiles, sorted
// as LoadAll sorts them, and whether that differs from the last scan.
func (w *watcher) scan() ([]*Profile, bool) {
	root := filepath.Join(w.home, "profiles")
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		w.log.Warn("read profiles", "dir", root, "err", err)
		return w.current(), false
	}
	changed := false
	present := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		present[name] = true
		dir := filepath.Join(root, name)
		sum, ok := fingerprint(dir)
		old, known := w.last[name]
		if known && ok && sum == old.sum {
			continue
		}
		p, err := Load(dir)
		if err == nil {
			_, err = p.TLSConfig()
		}
		if err != nil {
			if !old.bad {
				w.log.Info("profile not readable yet; keeping the last whole one", "dir", dir, "err", err)
			}
			old.bad = true
			w.last[name] = old
			continue
		}
		w.last[name] = seen{sum: sum, profile: p}
		changed = true
	}
	for name, s := range w.last {
		if !present[name] {
			delete(w.last, name)
			changed = changed || s.profile != nil
		}
	}
	return w.current(), changed
}

func (w *watcher) current() []*Profile {
	var out []*Profile
	for _, s := range w.last {
		if s.profile != nil {
			out = append(out, s.profile)
		}
	}
	Sort(out)
	return out
}

// fingerprint is a hash of the contents of a profile's files.
func fingerprint(dir string) ([sha256.Size]byte, bool) {
	h := sha256.New()
	for _, name := range []string{metaFile, certFile, keyFile, caFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return [sha256.Size]byte{}, false
		}
		h.Write([]byte(name))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, true
}

// Sort puts profiles in login order: by first login, then (for profiles
// that did not record it) by proxy address. The order decides who owns a
// name or a range that two clusters claim.
func Sort(ps []*Profile) {
	slices.SortStableFunc(ps, func(a, b *Profile) int {
		return cmp.Or(a.FirstLogin.Compare(b.FirstLogin), strings.Compare(a.ProxyAddr, b.ProxyAddr))
	})
}
