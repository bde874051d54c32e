package cli

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/epcflow/epcflow/internal/traced"
	"github.com/epcflow/epcflow/internal/tracing"
	"github.com/epcflow/epcflow/stack"
)

// tracer is a command's tracing, set up from the OTEL_* environment (internal/tracing): off
// unless configured, when its provider is nil and nothing is traced.
type tracer struct {
	t   *tracing.Tracing
	log *slog.Logger
	// temporal traces the Temporal client and the workers built from it (a no-op when off).
	temporal stack.DialOption
}

// startTracing sets up tracing for the process; service is its default service.name.
func startTracing(ctx context.Context, e *env, service string, log *slog.Logger) (*tracer, error) {
	t, err := tracing.Setup(ctx, tracing.Options{Service: service, Getenv: e.getenv, Logger: log, Console: e.stdout})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	i, err := traced.Interceptor(t.Provider())
	if err != nil {
		return nil, err
	}
	if t.Provider() != nil {
		log.Info("tracing on", "service", service, "exporters", t.Exporters)
	}
	return &tracer{t: t, log: log, temporal: stack.WithInterceptor(i)}, nil
}

func (t *tracer) provider() trace.TracerProvider { return t.t.Provider() }

// stop sends the spans still buffered, waiting a few seconds at most for the collector.
func (t *tracer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.t.Shutdown(ctx); err != nil {
		t.log.Warn("tracing: spans not sent at exit", "error", err)
	}
}
