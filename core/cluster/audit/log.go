package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// Prefix is where events live in the store: Prefix + key(time, random).
const Prefix = "/audit/"

// Defaults of Config.
const (
	DefaultQueueSize    = 4096
	DefaultWriteTimeout = 5 * time.Second
	// closeTimeout bounds how long Close waits for queued events to reach
	// the store.
	closeTimeout = 10 * time.Second
)

// Config is what a Log needs.
type Config struct {
	Store store.Store // never nil
	// QueueSize bounds the events waiting to be written; beyond it events
	// are dropped and counted. Default DefaultQueueSize.
	QueueSize int
	// WriteTimeout bounds one store write. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
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
// silent.
type Log struct {
	cfg     Config
	queue   chan Event    // never nil; closed by Close
	dropped atomic.Int64  // events lost since the last audit.dropped record
	done    chan struct{} // closed when the writer has returned
	mu      sync.RWMutex  // guards closed against Emit's send
	closed  bool          // guarded by mu
	once    sync.Once
	stop    chan struct{}  // closed by Close: ends the pruner
	pruneWG sync.WaitGroup // the pruner
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{cfg: cfg, queue: make(chan Event, cfg.QueueSize), done: make(chan struct{}), stop: make(chan struct{})}
	go l.write()
	l.pruneWG.Add(1)
	go l.prune(l.stop)
	return l, nil
}

// Emit queues ev for writing; its Time is set now if zero. It never
// blocks: a full queue or a closed log drops the event (and counts it).
func (l *Log) Emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	select {
	case l.queue <- ev:
	default:
		if l.dropped.Add(1) == 1 {
			l.cfg.Logger.Warn("audit queue is full: dropping events until the store catches up", "queue", l.cfg.QueueSize)
		}
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
		return nil
	case <-time.After(closeTimeout):
		return fmt.Errorf("audit: %d events still queued after %v", len(l.queue), closeTimeout)
	}
}

func (l *Log) write() {
	defer close(l.done)
	for ev := range l.queue {
		if err := l.put(ev); err != nil {
			l.dropped.Add(1)
			l.cfg.Logger.Error("audit event lost", "event", ev.Type, "user", ev.User, "app", ev.App, "err", err)
			continue
		}
		if n := l.dropped.Swap(0); n > 0 {
			if err := l.put(Event{Time: time.Now(), Type: Dropped, Count: n}); err != nil {
				l.dropped.Add(n)
			}
		}
	}
}

func (l *Log) put(ev Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.WriteTimeout)
	defer cancel()
	return l.cfg.Store.Create(ctx, Key(ev.Time), data)
}

// Key is a fresh store key for an event at t: keys sort by time (20
// zero-padded digits of Unix nanoseconds), and a random suffix keeps two
// events of the same nanosecond apart.
func Key(t time.Time) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s%020d-%s", Prefix, t.UnixNano(), hex.EncodeToString(r[:]))
}
