package replay_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/internal/traced"
	"github.com/epcflow/epcflow/replay"
	"github.com/epcflow/epcflow/worker"
)

// TestReplayWithTracingInterceptor replays every recorded history with the tracing
// interceptor a traced worker runs: tracing adds no command, so every history still replays,
// and a replay starts no span for the workflow's calls, only the one of the workflow's run (the SDK starts them only when not
// replaying).
func TestReplayWithTracingInterceptor(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	i, err := traced.Interceptor(tp)
	require.NoError(t, err)
	r, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{
		Interceptors: []interceptor.WorkerInterceptor{i},
	})
	require.NoError(t, err)
	worker.Register(r, worker.Deps{})

	paths, bad := replay.Paths(historyDirs(t))
	require.Empty(t, bad)
	require.NotEmpty(t, paths)
	log := sdklog.NewStructuredLogger(testkit.Logger(t, slog.LevelWarn))
	for _, p := range paths {
		require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(log, p), p)
	}
	ran := 0
	for _, s := range exp.GetSpans() {
		if strings.HasPrefix(s.Name, "RunWorkflow:") {
			ran++ // the interceptor was in the replay
		}
		require.False(t, strings.HasPrefix(s.Name, "StartActivity:") || strings.HasPrefix(s.Name, "StartTimer"),
			"span %s started in replay", s.Name)
	}
	require.Equal(t, len(paths), ran, "one RunWorkflow span per history")
}
