package traced_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/internal/traced"
)

func recorder(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return exp, tp
}

func attrs(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

// A client span per request, a child of the caller's span, whose trace context reaches the
// server; the request goes out whole, but the span's url.full has no query, user info or
// fragment, and no header is recorded.
func TestTransportTracesWithoutTheQuery(t *testing.T) {
	exp, tp := recorder(t)
	type seen struct{ query, traceparent, auth string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.RawQuery, r.Header.Get("Traceparent"), r.Header.Get("Authorization")}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	hc := traced.Client(tp, 0)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "activity")
	u := strings.Replace(srv.URL, "http://", "http://user:pw-secret@", 1) + "/media/r1?sig=grant-secret&expires=1#frag"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, strings.NewReader("bytes"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "elli-signature slot-secret")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	parent.End()

	s := <-got
	require.Equal(t, "sig=grant-secret&expires=1", s.query, "the request went out whole")
	require.Equal(t, "elli-signature slot-secret", s.auth)
	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	client := spans[0]
	require.Equal(t, trace.SpanKindClient, client.SpanKind)
	require.Equal(t, parent.SpanContext().SpanID(), client.Parent.SpanID())
	require.Equal(t, fmt.Sprintf("00-%s-%s-01", client.SpanContext.TraceID(), client.SpanContext.SpanID()), s.traceparent)
	a := attrs(client)
	require.Equal(t, srv.URL+"/media/r1", a["url.full"])
	require.Equal(t, "PUT", a["http.request.method"])
	require.Equal(t, "201", a["http.response.status_code"])
	b, err := json.Marshal(client)
	require.NoError(t, err)
	for _, secret := range []string{"secret", "grant", "Authorization", "frag"} {
		require.NotContains(t, string(b), secret)
	}
}

func TestNoProviderNoTracing(t *testing.T) {
	base := &http.Transport{}
	require.Same(t, base, traced.Transport(nil, base))
	require.Nil(t, traced.Client(nil, 0).Transport, "http.DefaultTransport")
	h := http.NotFoundHandler()
	require.Equal(t, fmt.Sprint(h), fmt.Sprint(traced.Handler(nil, h, "x")))
	i, err := traced.Interceptor(nil)
	require.NoError(t, err)
	require.Nil(t, i)
}

// The server joins the caller's trace (the sandbox plays the platforms: our spans reach it).
func TestHandlerJoinsTheCallersTrace(t *testing.T) {
	exp, tp := recorder(t)
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /partner/v2/transactions/{id}/response", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(traced.Handler(tp, mux, "sandbox"))
	defer srv.Close()

	ctx, parent := tp.Tracer("test").Start(context.Background(), "activity")
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, srv.URL+"/partner/v2/transactions/T1/response", nil)
	require.NoError(t, err)
	resp, err := traced.Client(tp, 0).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	parent.End()

	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	server, ok := byName["PATCH /partner/v2/transactions/{id}/response"]
	require.True(t, ok, "spans: %v", byName)
	require.Equal(t, trace.SpanKindServer, server.SpanKind)
	require.Equal(t, parent.SpanContext().TraceID(), server.SpanContext.TraceID())
	require.Equal(t, byName["HTTP PATCH"].SpanContext.SpanID(), server.Parent.SpanID())
}

func TestLogLinesCarryTheTrace(t *testing.T) {
	_, tp := recorder(t)
	var logs testkit.Logs
	log := slog.New(traced.LogHandler(slog.NewJSONHandler(&logs, nil)))
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	traceID, spanID := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()

	log.InfoContext(ctx, "in a span")
	log.Info("no context")
	log.InfoContext(context.Background(), "outside any span")
	log.With(traced.LogArgs(ctx)...).InfoContext(ctx, "a request's logger")
	log.WithGroup("g").InfoContext(ctx, "in a group", "k", "v")
	require.Nil(t, traced.LogArgs(context.Background()))

	lines := logs.Lines(t)
	require.Len(t, lines, 5)
	require.Equal(t, traceID, lines[0]["trace_id"])
	require.Equal(t, spanID, lines[0]["span_id"])
	for _, l := range lines[1:3] {
		require.NotContains(t, l, "trace_id", l["msg"])
	}
	require.Equal(t, traceID, lines[3]["trace_id"])
	require.Equal(t, 1, strings.Count(strings.Split(logs.String(), "\n")[3], `"trace_id"`), "trace_id once on the request logger's line")
	require.Equal(t, traceID, lines[4]["g"].(map[string]any)["trace_id"])
}
