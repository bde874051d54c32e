package integration

import (
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// TestFileBackedServerRestartFinishesOrder stops the whole engine (Temporal on a SQLite file,
// or on a PostgreSQL database with EPCFLOW_TEST_TEMPORAL_DB; worker, API) in the middle of an
// order and starts it again on the same database: the order carries on where it was and
// completes, with no effect done twice.
func TestFileBackedServerRestartFinishesOrder(t *testing.T) {
	needsTemporal(t)
	ctx := ctxFor(t, 3*time.Minute)
	apiAddr := freeAddr(t)

	// The sandbox outlives the engine, as the real platform would.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sbURL := "http://" + ln.Addr().String()
	sb, err := sandbox.New(sandbox.Config{PartnerURL: "http://" + apiAddr, PublicURL: sbURL, WebhookRetryInterval: 200 * time.Millisecond, Logger: testkit.Logger(t, slog.LevelWarn)})
	require.NoError(t, err)
	srv := &http.Server{Handler: sb.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); sb.Close() })

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "temporal.db")
	if pg := freshTemporalDB(t); pg != "" {
		dbPath = pg // one database for both lives
	}
	cfg := stack.Config{DataDir: dir, DBPath: dbPath, APIListen: apiAddr, SandboxURL: sbURL}
	first := startStack(t, cfg)
	o := first.place(ctx, demo.SampleOrder(workflows.TypeAppraisal, "LN-RESTART", "4430 Rosewood Dr"))
	require.NoError(t, demo.ScheduleInspection(ctx, first.operator, o.ID, 0))
	require.NoError(t, first.st.Close())

	second := startStack(t, cfg)
	st, err := second.operator.WaitStage(ctx, o.ID, workflows.StageAwaitReport)
	require.NoError(t, err, "the order is still waiting for its report after the restart")
	require.NotNil(t, st.Inspection)
	_, err = second.operator.Deliver(ctx, o.ID, demo.SampleReport(o.ID, 480000), 480000)
	require.NoError(t, err)
	res := second.await(ctx, o.ID)
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)

	v := second.view(ctx, o.ID)
	require.Equal(t, 1, v.Patches(epc.StatusProcessing), "PATCH statuses: %v", v.PatchStatuses())
	require.Equal(t, 1, v.Patches(epc.StatusCompleted))
	require.Len(t, v.EventsOfType(vocab.Default().Get(vocab.EventAppraisalScheduled)), 1)
	require.Len(t, v.Resources, 1)
	require.Equal(t, 1, v.Resources[0].Uploads)
	second.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "appraisal-across-restart")
}
