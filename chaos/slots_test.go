package chaos

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/metrics"
)

// The suite kills a worker while its /metrics shows activities in flight: the reader must
// understand what the worker's registry exports for the SDK's slot gauges. The tags are the
// ones the Temporal SDK (v1.50) puts on them.
func TestReadActivitySlotsFromTheWorkersRegistry(t *testing.T) {
	reg := metrics.New()
	root := reg.TemporalHandler().WithTags(map[string]string{
		"namespace": "default", "client_name": "temporal_go", "task_queue": "epcflow",
		"workflow_type": "none", "activity_type": "none",
	})
	for workerType, used := range map[string]float64{"ActivityWorker": 3, "LocalActivityWorker": 0, "WorkflowWorker": 5} {
		root.WithTags(map[string]string{"worker_type": workerType}).Gauge("temporal_worker_task_slots_used").Update(used)
	}
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()

	require.Equal(t, 3, readActivitySlots(context.Background(), srv.Client(), srv.URL+"/metrics"))
}
