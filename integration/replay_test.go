package integration

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/replay"
	"github.com/epcflow/epcflow/workflows"
)

// TestReplayRecentCoversEveryWorkflowType: `epcflow replay` against a server replays the
// executions of every epcflow workflow type by default: an order, a package and a payment.
func TestReplayRecentCoversEveryWorkflowType(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	o := e.place(ctx, demo.SampleOrder(workflows.TypeFloodCertification, "LN-REPLAY-1", "4430 Rosewood Dr"))
	e.await(ctx, o.ID)
	var pkg struct {
		Partner struct{ Status int } `json:"partner"`
	}
	postJSON(t, ctx, e.st.SandboxURL+"/sandbox/pos/packages", `{"instanceId":"BE11172718","groupNamespace":"loans","groupId":"g-replay","packageId":"pkg-replay-1",
	  "recipients":[{"recipientId":"r1","firstName":"Ann","lastName":"Lee","email":"ann@example.com","role":"borrower"}]}`, &pkg)
	require.Equal(t, http.StatusOK, pkg.Partner.Status)
	var pay workflows.PaymentCreated
	postJSON(t, ctx, e.st.APIURL+api.PaymentSessionsPath, string(paymentBody(t, nil)), &pay)
	postJSON(t, ctx, e.st.SandboxURL+"/sandbox/inbank/sessions/"+pay.POSSessionUUID+"/complete", `{}`, nil)

	// Visibility catches up with the starts asynchronously.
	var results []replay.Result
	require.Eventually(t, func() bool {
		var err error
		results, err = replay.Recent(ctx, slog.New(slog.DiscardHandler), e.st.Client, "", 100, nil)
		require.NoError(t, err)
		types := map[string]bool{}
		for _, r := range results {
			types[r.Type] = true
		}
		return len(types) == len(workflows.WorkflowNames())
	}, 20*time.Second, 100*time.Millisecond, "replay.Recent found %d executions", len(results))
	for _, r := range results {
		require.Equal(t, replay.OK, r.Kind, "%s (%s): %v", r.Name, r.Type, r.Err)
	}
}
