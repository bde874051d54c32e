package stack

import (
	"context"
	"log/slog"
	"strings"
)

// sdkLogHandler lowers to Debug what the Temporal SDK logs at Info as a failure but is normal
// operation: a workflow task the server refused because new events (a webhook, an operator's
// update) arrived while it ran ("Task processing failed with error", UnhandledCommand) is run
// again at once with them. Real task failures (a panic, a non-deterministic change) are logged
// by the SDK at Error or Warn on their own lines.
type sdkLogHandler struct{ slog.Handler }

func (h sdkLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && r.Message == "Task processing failed with error" && unhandledCommand(r) {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h sdkLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sdkLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h sdkLogHandler) WithGroup(name string) slog.Handler {
	return sdkLogHandler{h.Handler.WithGroup(name)}
}

func unhandledCommand(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "Error" && strings.Contains(a.Value.String(), "UnhandledCommand") {
			found = true
		}
		return !found
	})
	return found
}

// sdkLogger is the SDK's logger: log's handler, quieted (sdkLogHandler).
func sdkLogger(log *slog.Logger) *slog.Logger {
	return slog.New(sdkLogHandler{log.Handler()})
}
