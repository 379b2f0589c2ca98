package main

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// logHandler turns the engine's slog records into the one-line text the
// log callback takes, with the record's level.
type logHandler struct {
	host  host
	level slog.Level
	mu    *sync.Mutex   // guards buf; shared by the handlers WithAttrs makes
	buf   *bytes.Buffer // guarded by mu; where text writes one record
	text  slog.Handler  // writes into buf
}

func newLogHandler(h host, level slog.Level) *logHandler {
	buf := new(bytes.Buffer)
	return &logHandler{
		host:  h,
		level: level,
		mu:    new(sync.Mutex),
		buf:   buf,
		text:  slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}),
	}
}

func (l *logHandler) Enabled(_ context.Context, level slog.Level) bool { return level >= l.level }

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	l.buf.Reset()
	err := l.text.Handle(ctx, r)
	line := string(bytes.TrimRight(l.buf.Bytes(), "\n"))
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.host.Log(r.Level, line)
	return nil
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *l
	c.text = l.text.WithAttrs(attrs)
	return &c
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	c := *l
	c.text = l.text.WithGroup(name)
	return &c
}
