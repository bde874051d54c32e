package traced

import (
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
)

// Interceptor is the Temporal SDK's OpenTelemetry tracing interceptor on tp, for the client
// options (a worker built from the client gets it too). It carries the trace in Temporal
// headers: SignalWithStartWorkflow (the API) → RunWorkflow → StartActivity → RunActivity (the
// worker), and the activity's context then holds the span its HTTP calls descend from. The
// SDK starts workflow-side spans only when not replaying, so workflows stay deterministic.
// Workflow and activity loggers (workflow.GetLogger, activity.GetLogger) carry trace_id and
// span_id, named as on every other log line. With tp nil it returns nil, nil.
func Interceptor(tp trace.TracerProvider) (interceptor.Interceptor, error) {
	if tp == nil {
		return nil, nil
	}
	t, err := temporalotel.NewTracer(temporalotel.TracerOptions{
		Tracer:            tp.Tracer("temporal-sdk-go"),
		TextMapPropagator: Propagator(),
	})
	if err != nil {
		return nil, err
	}
	return interceptor.NewTracingInterceptor(logKeys{t}), nil
}

// logKeys renames the keys the SDK's tracer adds to workflow and activity loggers (TraceID,
// SpanID) to ours.
type logKeys struct{ interceptor.Tracer }

func (t logKeys) GetLogger(l sdklog.Logger, ref interceptor.TracerSpanRef) sdklog.Logger {
	s, ok := ref.(interface{ SpanContext() trace.SpanContext })
	if !ok {
		return l
	}
	sc := s.SpanContext()
	if !sc.IsValid() {
		return l
	}
	return sdklog.With(l, TraceIDKey, sc.TraceID().String(), SpanIDKey, sc.SpanID().String())
}
