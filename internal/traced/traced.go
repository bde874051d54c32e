// Package traced instruments epcflow's parts for OpenTelemetry tracing: HTTP clients and
// servers, the Temporal client and worker, and log lines. It only uses the OpenTelemetry API:
// the exporting SDK is set up once per process by internal/tracing, whose provider the
// commands hand down. Every function takes that provider; a nil provider (tracing off)
// returns what it was given, so an untraced process runs no tracing code at all.
package traced

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is how a trace crosses a process boundary: W3C trace context and baggage, the
// same as the Temporal SDK's default, in HTTP headers and Temporal headers alike.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// httpOptions are the options of every otelhttp client and server: our provider and
// propagator, and no HTTP metrics (Prometheus has the metrics; /metrics would not show these).
func httpOptions(tp trace.TracerProvider) []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
}

// Client is an *http.Client with timeout whose requests are client spans of tp (Transport).
// With tp nil it is a plain client on http.DefaultTransport.
func Client(tp trace.TracerProvider, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: Transport(tp, nil)}
}

// Transport makes every request through base (nil: http.DefaultTransport) a client span of
// tp and sends its trace context in the traceparent header. With tp nil it returns base.
//
// What a span records is otelhttp's default (method, url.full, server address and port,
// status; never a header or a body), except that url.full leaves out the query, the user
// info and the fragment: an upload slot's location and a lender's attachment link may carry
// a signed grant in their query, and the span must not. The request itself goes out whole.
func Transport(tp trace.TracerProvider, base http.RoundTripper) http.RoundTripper {
	if tp == nil {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return hideURL{traced: otelhttp.NewTransport(restoreURL{base}, httpOptions(tp)...), base: base}
}

// Handler serves h with a server span per request, a child of the caller's span when the
// request carries trace context (traceparent). The sandbox uses it, so that its side of our
// calls shows in our traces. With tp nil it returns h.
func Handler(tp trace.TracerProvider, h http.Handler, service string) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, service, httpOptions(tp)...)
}

// fullURLKey carries a request's whole URL past otelhttp, which sees it without its query.
type fullURLKey struct{}

// hideURL hands otelhttp the request with its URL stripped to scheme, host and path, and the
// whole URL in the context for restoreURL.
type hideURL struct {
	traced, base http.RoundTripper
}

func (t hideURL) RoundTrip(r *http.Request) (*http.Response, error) {
	u := r.URL
	if u == nil || u.RawQuery == "" && !u.ForceQuery && u.User == nil && u.Fragment == "" {
		return t.traced.RoundTrip(r)
	}
	shown := &url.URL{Scheme: u.Scheme, Opaque: u.Opaque, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	r = r.WithContext(context.WithValue(r.Context(), fullURLKey{}, u)) // a shallow copy: r is not ours to change
	r.URL = shown
	return t.traced.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the base transport.
func (t hideURL) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// restoreURL puts back the URL hideURL took off, under otelhttp, before the request leaves.
type restoreURL struct{ base http.RoundTripper }

func (t restoreURL) RoundTrip(r *http.Request) (*http.Response, error) {
	if u, ok := r.Context().Value(fullURLKey{}).(*url.URL); ok {
		r2 := *r
		r2.URL = u
		r = &r2
	}
	return t.base.RoundTrip(r)
}
