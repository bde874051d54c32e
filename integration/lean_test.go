package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/histstats"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workflows"
)

// Issue 12's targets for a flood order: at most 15 Temporal actions and 40 history events.
const (
	maxFloodActions = 15
	maxFloodEvents  = 40
)

// TestFloodOrderIsLean: a flood order through the whole stack costs Temporal no more than
// issue 12 allows, counted from its history once every webhook about it was answered: the
// platform's webhooks of the order's own writes were accepted (2xx) and did not reach it, and
// the order completed with every effect once, its stage shown in the Temporal UI.
func TestFloodOrderIsLean(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	require.NoError(t, e.lender.SetServiceEventMappings(ctx, map[string][]string{"FLOOD-DETERMINED": {"task"}}))

	o := e.place(ctx, demo.SampleOrder(workflows.TypeFloodCertification, "LN-LEAN-1", "4430 Rosewood Dr"))
	require.Equal(t, epc.StatusCompleted, e.await(ctx, o.ID).ResponseStatus)
	v := e.waitView(ctx, o.ID, func(v sandbox.TransactionRecord) bool {
		for _, w := range v.Webhooks {
			if w.Outcome == "pending" {
				return false
			}
		}
		return true
	})
	require.GreaterOrEqual(t, len(v.Webhooks), 6, "the transaction's and its events' webhooks")
	for _, w := range v.Webhooks {
		require.Equal(t, "delivered", w.Outcome, "%s %s: %+v", w.EventType, w.ResourceType, w.Attempts)
	}
	require.Equal(t, []string{epc.StatusProcessing, "", "", epc.StatusCompleted}, v.PatchStatuses(), "acknowledged, service events, certificate attached, completed: once each")
	require.Len(t, v.Resources, 1)
	require.Equal(t, 1, v.Resources[0].Uploads)
	require.Len(t, v.EventsOfType(epc.EventResponseProcessed), 1)

	id := workflows.TransactionWorkflowID(o.ID)
	h := e.historyOf(ctx, id, "")
	c := histstats.Of(h)
	t.Logf("flood order: %d events, %d actions (%d signals, %d activities, %d local-activity batches, %d upserts, %d timers), %d bytes",
		c.Events, c.Actions(), c.SignalsReceived, c.Activities, c.LocalActivityBatches, c.SearchAttrUpserts, c.Timers, c.Bytes)
	require.LessOrEqual(t, c.Events, maxFloodEvents)
	require.LessOrEqual(t, c.Actions(), maxFloodActions)
	require.Equal(t, 1, c.SignalsReceived, "the webhook that started it; the platform's echoes of its own writes never reached it")
	require.Equal(t, 3, c.SearchAttrUpserts, "the SDK's version marker's, what the order learned, how it ended: not each step")

	st, err := e.operator.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, workflows.StageCompleted, st.Stage)
	require.NotNil(t, st.ServiceEvents)
	query := fmt.Sprintf("%s = '%s' AND %s = '%s'", workflows.SAStage.GetName(), workflows.StageCompleted, workflows.SATransactionID.GetName(), o.ID)
	require.Eventually(t, func() bool {
		resp, err := e.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(t, err)
		return len(resp.Executions) == 1
	}, 20*time.Second, 100*time.Millisecond, "visibility: %s", query)
	e.saveHistory(ctx, "transaction", id, "flood-lean-quiet")
}
