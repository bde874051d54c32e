package core

import (
	"log/slog"
	"net/http"
	"time"
)

// RouteKind says which fault rules may touch a route.
type RouteKind int

const (
	// RoutePlatform: a platform API route (Partner API, media, POS sessions); "*" rules apply.
	RoutePlatform RouteKind = iota
	// RouteExplicit: token, page and control routes; only rules that name them apply.
	RouteExplicit
)

// Observer sees every finished call of a route, faulted ones included.
type Observer func(r *http.Request, c *Call)

// Handle registers pattern. Every route goes through fault injection, which lets a rule
// through only where it applies (see RouteKind); observe, if not nil, sees every finished
// call. A call that is observed, or may have changed something (not GET or HEAD), counts as a
// state change.
func (rt *Runtime) Handle(pattern string, kind RouteKind, h http.Handler, observe Observer) {
	rt.handle(pattern, kind, h, observe, false)
}

// HandleSecret registers a route whose path carries a one-time secret: as Handle, but its
// debug log line names the route, never the path.
func (rt *Runtime) HandleSecret(pattern string, kind RouteKind, h http.Handler) {
	rt.handle(pattern, kind, h, nil, true)
}

func (rt *Runtime) handle(pattern string, kind RouteKind, h http.Handler, observe Observer, secret bool) {
	rt.routes[pattern] = kind
	inner := rt.faults.wrap(pattern, kind, h)
	rt.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, call: Call{Method: r.Method, Path: r.URL.Path}}
		inner.ServeHTTP(sw, r)
		if observe != nil {
			sw.call.At = rt.Now().UTC()
			observe(r, &sw.call)
		}
		if observe != nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			rt.Touch() // a call logged, or possibly a change made
		}
		if !rt.Log.Enabled(r.Context(), slog.LevelDebug) {
			return
		}
		// The path at most: a query could carry a grant, headers carry tokens.
		where := slog.String("path", r.URL.Path)
		if secret {
			where = slog.String("route", pattern)
		}
		rt.Log.LogAttrs(r.Context(), slog.LevelDebug, "sandbox http",
			slog.String("method", r.Method), where,
			slog.Int("status", sw.call.Status), slog.String("fault", sw.call.Fault),
			slog.Duration("duration", time.Since(start)))
	}))
}

// statusWriter remembers the status written, and which fault (if any) answered.
type statusWriter struct {
	http.ResponseWriter
	call Call
}

func (w *statusWriter) WriteHeader(code int) {
	if w.call.Status == 0 {
		w.call.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.call.Status == 0 {
		w.call.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Hijack and Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setFault records the fault that answered instead of the handler.
func setFault(w http.ResponseWriter, fault string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.call.Fault = fault
	}
}
