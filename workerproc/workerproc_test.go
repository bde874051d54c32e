package workerproc

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/metrics"
)

// A worker is taken as polling once its /metrics show polls of both task queues in flight:
// the reader must understand what the worker's registry exports for the SDK's poller gauge.
func TestPollsInFlightFromTheWorkersRegistry(t *testing.T) {
	reg := metrics.New()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	root := reg.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "epcflow"})
	gauge := func(typ string, n float64) {
		root.WithTags(map[string]string{"poller_type": typ}).Gauge("temporal_num_pollers").Update(n)
	}
	url := srv.URL + "/metrics"

	require.False(t, pollsInFlight(context.Background(), url), "no poller yet")
	gauge("workflow_task", 2)
	gauge("activity_task", 0)
	require.False(t, pollsInFlight(context.Background(), url), "no activity poll in flight")
	gauge("activity_task", 1)
	require.True(t, pollsInFlight(context.Background(), url))
}
