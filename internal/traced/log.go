package traced

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the trace on log lines.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// LogHandler wraps h so that a line logged with a context inside a span (InfoContext,
// LogAttrs…) carries trace_id and span_id, to find the trace of a log line and the lines of
// a trace. A logger that already carries trace_id (LogArgs) is left as it is.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{next: h} }

// LogArgs are trace_id and span_id of ctx's span, for a logger made for one request or one
// activity (logger.With(LogArgs(ctx)...)), whose lines are logged without the context; none
// when ctx holds no span.
func LogArgs(ctx context.Context) []any {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []any{TraceIDKey, sc.TraceID().String(), SpanIDKey, sc.SpanID().String()}
}

type logHandler struct {
	next slog.Handler
	has  bool // the logger carries trace_id already (With)
}

func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.has {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range as {
		has = has || a.Key == TraceIDKey
	}
	return logHandler{next: h.next.WithAttrs(as), has: has}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{next: h.next.WithGroup(name), has: h.has}
}
