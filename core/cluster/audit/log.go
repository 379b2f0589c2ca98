package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnetproject/vnet/core/atomicfile"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// Prefix is where events live in the store: Prefix + key(time, random).
const Prefix = "/audit/"

// Defaults of Config.
const (
	DefaultQueueSize    = 4096
	DefaultWriteTimeout = 5 * time.Second
	// DefaultLinger: at most about a hundred store writes a second
	// however many sessions start and end, each a file sync on bbolt.
	DefaultLinger = 10 * time.Millisecond
	// closeTimeout bounds how long Close waits for queued events to reach
	// the store.
	closeTimeout = 10 * time.Second
)

// Config is what a Log needs.
type Config struct {
	Store store.Store // never nil
	// QueueSize bounds the events waiting to be written (and, again, the
	// batch the writer is storing); beyond it events are dropped and
	// counted. Rejected dials may hold at most half of it,
	// so that a flood of them cannot push session starts and ends out.
	// Default DefaultQueueSize.
	QueueSize int
	// DroppedFile keeps the number of dropped events not yet recorded in
	// the store (a file in the data directory): a daemon that stops while
	// the store refuses writes records the count at its next start.
	// Empty: the count lives in memory only.
	DroppedFile string
	// WriteTimeout bounds one store write. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Linger is how long the writer waits, after the first event of a
	// write, for more events to go in the same write (one transaction,
	// one file sync): new connections at a steady rate otherwise cost a
	// sync for every event or two. Close does not wait for it. Default
	// DefaultLinger; negative: no wait (what is queued goes together).
	Linger time.Duration
	// Retention is how long events are kept (DefaultRetention if 0);
	// older ones are deleted in the background.
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time // default time.Now
}

// Log writes events to the store. Emit never blocks the caller: events
// wait in a bounded queue for one writer goroutine. When the store is
// slower than the events come, the queue fills and further events are
// dropped; the writer then records an audit.dropped event with their
// number as soon as the store takes writes again, so a gap is never
// silent. Rejected dials, which any user can cause at will, are dropped
// first: they may fill half the queue, session events all of it. The
// count not yet recorded is kept in Config.DroppedFile, so that it
// survives a restart.
type Log struct {
	cfg     Config
	queue   chan Event   // never nil; closed by Close
	dropped atomic.Int64 // events lost since the last audit.dropped record
	// shedQueued counts the sheddable events (rejections) in queue; Emit
	// keeps it at most shedCap.
	shedQueued atomic.Int64
	shedCap    int64
	persistMu  sync.Mutex    // serializes writes of cfg.DroppedFile
	persisted  int64         // the count in cfg.DroppedFile; guarded by persistMu
	final      bool          // Close has written the last count; guarded by persistMu
	done       chan struct{} // closed when the writer has returned
	mu         sync.RWMutex  // guards closed against Emit's send
	closed     bool          // guarded by mu
	once       sync.Once
	stop       chan struct{}  // closed by Close: ends the pruner
	pruneWG    sync.WaitGroup // the pruner
}

// New starts a Log.
func New(cfg Config) (*Log, error) {
	if cfg.Store == nil {
		return nil, errors.New("audit: store is required")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{cfg: cfg, queue: make(chan Event, cfg.QueueSize), shedCap: int64(max(1, cfg.QueueSize/2)), done: make(chan struct{}), stop: make(chan struct{})}
	if n := l.loadDropped(); n > 0 {
		l.dropped.Store(n)
		l.persisted = n
		cfg.Logger.Warn("audit: events dropped before the last stop are not recorded yet; recording them now", "count", n)
	}
	go l.write()
	l.pruneWG.Add(1)
	go l.prune(l.stop)
	return l, nil
}

// Emit queues ev for writing, its string fields bounded (Event.Bounded);
// its Time is set now if zero. It never blocks: a full queue or a closed
// log drops the event (and counts it), and a rejection is dropped already
// when rejections fill their half of the queue.
func (l *Log) Emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev = ev.Bounded()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	shed := sheddable(ev.Type)
	if shed && l.shedQueued.Add(1) > l.shedCap {
		l.shedQueued.Add(-1)
		l.drop()
		return
	}
	select {
	case l.queue <- ev:
	default:
		if shed {
			l.shedQueued.Add(-1)
		}
		l.drop()
	}
}

// sheddable tells the events dropped first under pressure: rejected
// dials, which a user causes as fast as it likes.
func sheddable(typ string) bool { return typ == SessionRejected }

func (l *Log) drop() {
	if l.dropped.Add(1) == 1 {
		l.cfg.Logger.Warn("audit queue is full: dropping events until the store catches up", "queue", l.cfg.QueueSize)
	}
}

// Close writes what is queued (for at most a few seconds) and stops the
// writer. Idempotent.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.queue)
		l.mu.Unlock()
		close(l.stop)
		l.pruneWG.Wait()
	})
	select {
	case <-l.done:
		l.persistDropped(0, true, false)
		return nil
	case <-time.After(closeTimeout):
		// What is still queued is lost with this process: count it.
		queued := len(l.queue)
		l.persistDropped(int64(queued), true, false)
		return fmt.Errorf("audit: %d events still queued after %v", queued, closeTimeout)
	}
}

// maxBatch bounds the events one store write carries: etcd refuses a
// transaction of more than 128 operations by default, and a batch this
// size already shares one file sync among a whole burst of sessions.
const maxBatch = 128

// write is the writer: it takes the first event, what comes within
// Config.Linger and what the queue holds then (at most maxBatch and at
// most the queue's size), and stores it in one write (Store.PutAll: one
// transaction, so one file sync on bbolt, for the session starts and
// ends of that time and the burst that piled up during the last write).
// Keys sort by each event's time, so batching keeps the order.
func (l *Log) write() {
	defer close(l.done)
	l.recordDropped() // what the last run could not record
	limit := min(maxBatch, l.cfg.QueueSize)
	batch := make([]Event, 0, limit)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for ev := range l.queue {
		batch = l.gather(append(batch[:0], ev), limit, linger)
		failed := false
		if err := l.putAll(batch); err != nil {
			l.dropped.Add(int64(len(batch)))
			for _, ev := range batch {
				l.cfg.Logger.Error("audit event lost", "event", ev.Type, "user", ev.User, "app", ev.App, "err", err)
			}
			failed = true
		} else {
			failed = !l.recordDropped()
		}
		// A rejection counts against its share of the queue until it is
		// written: the writer's batch is queue too.
		for _, ev := range batch {
			if sheddable(ev.Type) {
				l.shedQueued.Add(-1)
			}
		}
		l.persistDropped(0, false, failed)
	}
}

// gather adds to batch, up to limit events, those that come within
// Config.Linger (until the queue is closed), then those queued already.
func (l *Log) gather(batch []Event, limit int, linger *time.Timer) []Event {
	var wait <-chan time.Time // nil: take only what is queued
	if l.cfg.Linger > 0 {
		linger.Reset(l.cfg.Linger)
		defer linger.Stop()
		wait = linger.C
	}
	for len(batch) < limit {
		var ev Event
		var ok bool
		if wait != nil {
			select {
			case ev, ok = <-l.queue:
			case <-wait:
				wait = nil
				continue
			}
		} else {
			select {
			case ev, ok = <-l.queue:
			default:
				return batch
			}
		}
		if !ok {
			return batch // closed
		}
		batch = append(batch, ev)
	}
	return batch
}

// recordDropped writes an audit.dropped event with the count of events
// lost since the last one, if any. It reports whether the count is
// recorded (or there was none).
func (l *Log) recordDropped() bool {
	if n := l.dropped.Swap(0); n > 0 {
		if err := l.put(Event{Time: time.Now(), Type: Dropped, Count: n}); err != nil {
			l.dropped.Add(n)
			return false
		}
	}
	return true
}

// loadDropped reads the count a previous run left in cfg.DroppedFile.
func (l *Log) loadDropped() int64 {
	if l.cfg.DroppedFile == "" {
		return 0
	}
	data, err := os.ReadFile(l.cfg.DroppedFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	var n int64
	if err == nil {
		n, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	}
	if err != nil || n < 0 {
		l.cfg.Logger.Error("audit: the count of events dropped before the last stop is unreadable; it is not recorded", "file", l.cfg.DroppedFile, "err", err)
		return 0
	}
	return n
}

// persistDropped writes the count not yet recorded (plus extra, events
// about to be lost) to cfg.DroppedFile when it changed. The writer calls
// it after every event: while the store takes writes and the file says 0
// it writes nothing (what is dropped then is recorded in the store at the
// next write; a file write per event would only slow a busy writer), but
// after a failed write (failed) or while the file holds a count it does.
// Close calls it a last time (final): the writer may outlive a Close that
// timed out and must not overwrite that count.
func (l *Log) persistDropped(extra int64, final, failed bool) {
	if l.cfg.DroppedFile == "" {
		return
	}
	l.persistMu.Lock()
	defer l.persistMu.Unlock()
	if l.final || (!final && !failed && l.persisted == 0) {
		return
	}
	l.final = final
	n := l.dropped.Load() + extra
	if n == l.persisted {
		return
	}
	if err := atomicfile.WriteFile(l.cfg.DroppedFile, []byte(strconv.FormatInt(n, 10)+"\n"), 0o600); err != nil {
		l.cfg.Logger.Error("audit: cannot keep the count of dropped events", "count", n, "err", err)
		return
	}
	l.persisted = n
}

func (l *Log) put(ev Event) error { return l.putAll([]Event{ev}) }

// putAll stores events in one write, each under a fresh Key. The keys are
// new (a time and 48 random bits), so the overwriting PutAll stores each
// event as Create would.
func (l *Log) putAll(events []Event) error {
	items := make([]store.Item, len(events))
	for i, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		items[i] = store.Item{Key: Key(ev.Time), Value: data}
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.WriteTimeout)
	defer cancel()
	return l.cfg.Store.PutAll(ctx, items)
}

// Key is a fresh store key for an event at t: keys sort by time (20
// zero-padded digits of Unix nanoseconds), and a random suffix keeps two
// events of the same nanosecond apart.
func Key(t time.Time) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s%020d-%s", Prefix, t.UnixNano(), hex.EncodeToString(r[:]))
}
