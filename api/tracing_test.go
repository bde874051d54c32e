package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/epcflow/epcflow/epc"
)

// With a tracer, a webhook is a server span named by its route, the root of a new trace even
// when the caller sends trace context; the engine is called inside it; the request's log
// lines carry its trace id once; probes make no span; no header or body reaches the span.
func TestWebhookIsTheRootOfATrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	a := newTestAPI(t, func(c *Config) { c.Tracer = tp })
	inEngine := make(chan trace.SpanContext, 1)
	a.eng.setHook(func(ctx context.Context) error {
		inEngine <- trace.SpanContextFromContext(ctx)
		return nil
	})
	body := fixture(t, "webhook-transaction-created.json")
	sig := sign(signingKey, body)
	const outside = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp := a.do(t, http.MethodPost, "/webhooks/epc", bytes.NewReader(body), map[string]string{
		epc.SignatureHeader: sig, RequestIDHeader: "req-traced", "Traceparent": "00-" + outside + "-00f067aa0ba902b7-01",
	})
	if resp.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	a.do(t, http.MethodGet, "/healthz", nil, nil)
	access := a.logs.WaitLine(t, func(m map[string]any) bool { return m["msg"] == "http request" && m["requestId"] == "req-traced" })

	// A span starts before its handler answers: every span these requests made has started.
	if n := len(rec.Started()); n != 1 {
		t.Fatalf("%d spans, want the webhook's alone (no probe)", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.Ended()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the span ends just after the answer is written
	}
	if len(rec.Ended()) != 1 {
		t.Fatal("the webhook's span did not end")
	}
	s := tracetest.SpanStubFromReadOnlySpan(rec.Ended()[0])
	if s.Name != "POST /webhooks/epc" || s.SpanKind != trace.SpanKindServer || s.Parent.IsValid() {
		t.Errorf("span %q kind %v parent %v: want a root server span POST /webhooks/epc", s.Name, s.SpanKind, s.Parent)
	}
	traceID := s.SpanContext.TraceID().String()
	if traceID == outside {
		t.Error("the caller's trace id was adopted")
	}
	if got := <-inEngine; got.SpanID() != s.SpanContext.SpanID() {
		t.Errorf("the engine ran in span %v, want the webhook's %v", got.SpanID(), s.SpanContext.SpanID())
	}
	if access["trace_id"] != traceID || access["span_id"] != s.SpanContext.SpanID().String() {
		t.Errorf("access line %v: want trace_id %s", access, traceID)
	}
	for line := range strings.Lines(a.logs.String()) {
		if strings.Contains(line, "req-traced") && strings.Count(line, `"trace_id"`) != 1 {
			t.Errorf("request line without its trace id once: %s", line)
		}
	}
	b, _ := json.Marshal(s)
	for _, secret := range []string{sig, signingKey, "BE11172718", epc.SignatureHeader} {
		if strings.Contains(string(b), secret) {
			t.Errorf("span holds %q (a signature, key, header or body content): %s", secret, b)
		}
	}
}
