package payments_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/payments"
)

// TestReplayRecordedHistories replays histories recorded from real runs against the
// sandbox (regenerate with `EPCFLOW_UPDATE_HISTORIES=1 go test ./payments/`). A change to
// the workflow that is not versioned fails here.
func TestReplayRecordedHistories(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no recorded histories in testdata/histories")
	log := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(payments.PaymentSession, workflow.RegisterOptions{Name: payments.PaymentWorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(log, p))
		})
	}
}
