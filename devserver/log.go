//go:build !production

package devserver

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// levelHandler drops records below min before they reach the wrapped handler,
// so Temporal's chatty Info logs cost nothing when the caller's handler would
// accept them.
type levelHandler struct {
	min slog.Leveler
	h   slog.Handler
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.h.Enabled(ctx, l)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.h.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{min: h.min, h: h.h.WithAttrs(attrs)}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{min: h.min, h: h.h.WithGroup(name)}
}

// filteredLogger returns l (or a discarding logger when nil) limited to min.
func filteredLogger(l *slog.Logger, min slog.Leveler) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(&levelHandler{min: min, h: l.Handler()})
}

// levelFatal marks Panic and Fatal records, the only ones kept while stopping.
const levelFatal = slog.LevelError + 4

// serverLevel is the threshold for server logs. While the server stops, its
// parts lose each other (refused dials, failed polls, canceled queries) and
// log warnings and errors about it; all expected, so only fatal records pass
// then (a failed stop is reported by Stop's error).
type serverLevel struct {
	base     slog.Leveler
	stopping atomic.Bool
}

func (l *serverLevel) Level() slog.Level {
	base := slog.LevelWarn
	if l.base != nil {
		base = l.base.Level()
	}
	if l.stopping.Load() && base < levelFatal {
		return levelFatal
	}
	return base
}

// serverLogger implements Temporal's log.Logger over slog. Tags added with
// With are kept unevaluated: Temporal builds many tagged loggers whose output
// is almost always filtered away, and evaluating a tag is not free.
type serverLogger struct {
	l    *slog.Logger
	tags []tag.Tag
}

var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
)

func (s serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic is a development-only panic in Temporal's zap setup; an error here.
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic and Fatal must not return: Temporal's callers assume they stop the
// flow (e.g. a failed listener is followed by use of the nil listener). A
// panic keeps the message and stack and, unlike os.Exit, lets tests report.
func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(levelFatal, msg, tags)
	panic("temporal server: " + msg)
}

func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(levelFatal, msg, tags)
	panic("temporal server fatal: " + msg)
}

func (s serverLogger) With(tags ...tag.Tag) log.Logger {
	all := make([]tag.Tag, 0, len(s.tags)+len(tags))
	all = append(append(all, s.tags...), tags...)
	return serverLogger{l: s.l, tags: all}
}

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	level = serverMessageLevel(level, msg)
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(s.tags)+len(tags))
	for _, t := range s.tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	s.l.LogAttrs(ctx, level, msg, attrs...)
}

// serverMessageLevel lowers to Debug the server's warnings that this process's own parts
// provoke in normal use and nobody can act on: the Temporal UI asks for history pages of 1,000
// events, above the frontend's fixed 256, and the frontend warns and serves 256 (each time a
// history is opened).
func serverMessageLevel(level slog.Level, msg string) slog.Level {
	switch msg {
	case "GetHistory page size is larger than threshold":
		return slog.LevelDebug
	}
	return level
}
