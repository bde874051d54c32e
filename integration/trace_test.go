package integration

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/internal/traced"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/workflows"
)

// TestOneTraceFromWebhookToCompletedPatch runs a flood order through the traced stack and
// finds the PATCH that completed it in the trace the lender's webhook began: the chain of
// parents runs from that HTTP call through its activity, the workflow and SignalWithStart to
// the webhook's server span. The log lines of the API, the workflow and the activity carry
// that trace, and no span holds a secret.
func TestOneTraceFromWebhookToCompletedPatch(t *testing.T) {
	needsTemporal(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	var logs testkit.Logs
	log := slog.New(traced.LogHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	e := startStack(t, stack.Config{Tracer: tp, Logger: log})
	ctx := ctxFor(t, time.Minute)

	o := e.place(ctx, demo.SampleOrder(workflows.TypeFloodCertification, "LN-TRACE-1", "12 Tracer Ct"))
	require.Equal(t, epc.StatusCompleted, e.await(ctx, o.ID).ResponseStatus)
	statuses := e.view(ctx, o.ID).PatchStatuses()
	require.Equal(t, epc.StatusCompleted, statuses[len(statuses)-1], "PATCH statuses: %v", statuses)

	// The last PATCH of the order's response is the one that completed it. Its chain of
	// parents ends once the webhook's span has ended, just after the API answered.
	patchURL := e.st.SandboxURL + "/partner/v2/transactions/" + o.ID + "/response"
	want := []string{
		"HTTP PATCH",
		"RunActivity:" + workflows.ActivityUploadAndComplete,
		"StartActivity:" + workflows.ActivityUploadAndComplete,
		"RunWorkflow:" + workflows.TransactionWorkflowName,
		"SignalWithStartWorkflow:" + workflows.TransactionWorkflowName,
		"POST /webhooks/epc",
	}
	// The platform's webhooks may come in either order: when the request's event comes before
	// the transaction's, it starts the order without a signal (starter.DeliverWebhook).
	startedByEvent := "StartWorkflow:" + workflows.TransactionWorkflowName
	var chain []tracetest.SpanStub
	deadline := time.Now().Add(10 * time.Second)
	for {
		chain = parentChain(lastPatch(exp.GetSpans(), patchURL), exp.GetSpans())
		if len(chain) == len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := names(chain)
	if len(got) == len(want) && got[4] == startedByEvent {
		want[4] = startedByEvent
	}
	require.Equal(t, want, got)
	traceID := chain[0].SpanContext.TraceID()
	for _, s := range chain {
		require.Equal(t, traceID, s.SpanContext.TraceID(), s.Name)
	}
	webhook := chain[len(chain)-1]
	require.Equal(t, trace.SpanKindServer, webhook.SpanKind)
	require.False(t, webhook.Parent.IsValid(), "the webhook's span is the root")
	require.Equal(t, "/webhooks/epc", attr(webhook, "http.route"))
	require.Equal(t, trace.SpanKindClient, chain[0].SpanKind)
	require.True(t, strings.HasPrefix(attr(chain[0], "http.response.status_code"), "2"), "the PATCH succeeded")

	// The whole trace, in the order its spans started, for whoever reads the test's output.
	var inTrace []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == traceID {
			inTrace = append(inTrace, s)
		}
	}
	slices.SortStableFunc(inTrace, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	t.Logf("trace %s: %d spans, in the order they started:\n  %s", traceID, len(inTrace), strings.Join(names(inTrace), "\n  "))
	// The sandbox's side of the PATCH joined the trace too.
	require.Contains(t, names(inTrace), "PATCH /partner/v2/transactions/{id}/response")

	// Log lines carry the trace: the API's, the workflow's and the completing activity's.
	run, act := chain[3].SpanContext.SpanID().String(), chain[1].SpanContext.SpanID().String()
	found := map[string]bool{}
	for _, l := range logs.Lines(t) {
		switch {
		case (l["msg"] == "webhook delivered to workflow" || strings.HasPrefix(fmt.Sprint(l["msg"]), "webhook accepted, not signalled")) &&
			l["transactionId"] == o.ID && l["trace_id"] == traceID.String():
			found["api"] = true
		case l["msg"] == "stage" && l["transactionId"] == o.ID && l["trace_id"] == traceID.String() && l["span_id"] == run:
			found["workflow"] = true
		case l["msg"] == "response patched" && l["status"] == epc.StatusCompleted && l["trace_id"] == traceID.String() && l["span_id"] == act:
			found["activity"] = true
		}
	}
	require.Equal(t, map[string]bool{"api": true, "workflow": true, "activity": true}, found)

	// No span anywhere holds a secret: credentials, keys, tokens, headers or bodies.
	all, err := json.Marshal(exp.GetSpans())
	require.NoError(t, err)
	for _, secret := range []string{
		"demo-password-1", sandbox.DefaultClientSecret, sandbox.DefaultSigningKey, sandbox.DefaultInbankAPIKey,
		sandbox.DefaultPOSSigningSecret, "Bearer", "elli-signature", "Elli-Signature", "LN-TRACE-1", "12 Tracer Ct",
	} {
		require.NotContains(t, string(all), secret)
	}
}

// lastPatch is the PATCH client span to url that started last (zero when there is none).
func lastPatch(spans tracetest.SpanStubs, url string) tracetest.SpanStub {
	var last tracetest.SpanStub
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient && attr(s, "http.request.method") == "PATCH" && attr(s, "url.full") == url &&
			s.StartTime.After(last.StartTime) {
			last = s
		}
	}
	return last
}

// parentChain is s and its ancestors among spans, nearest first.
func parentChain(s tracetest.SpanStub, spans tracetest.SpanStubs) []tracetest.SpanStub {
	if !s.SpanContext.IsValid() {
		return nil
	}
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, sp := range spans {
		byID[sp.SpanContext.SpanID()] = sp
	}
	chain := []tracetest.SpanStub{s}
	for s.Parent.IsValid() {
		p, ok := byID[s.Parent.SpanID()]
		if !ok {
			break
		}
		chain, s = append(chain, p), p
	}
	return chain
}

func names(spans []tracetest.SpanStub) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}
