package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// settled waits until the transaction's workflow has nothing in flight (no workflow task, no
// activity) and returns its history length then.
func (e *env) settled(ctx context.Context, txID string) int64 {
	e.t.Helper()
	for {
		d, err := e.st.Client.DescribeWorkflowExecution(ctx, workflows.TransactionWorkflowID(txID), "")
		require.NoError(e.t, err)
		if d.PendingWorkflowTask == nil && len(d.PendingActivities) == 0 {
			return d.WorkflowExecutionInfo.HistoryLength
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("transaction %s never settled", txID)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// quiet waits until the sandbox has delivered every webhook about the transaction and its
// workflow has settled after them, and returns its history length then.
func (e *env) quiet(ctx context.Context, txID string) int64 {
	e.t.Helper()
	for {
		n := e.settled(ctx, txID)
		e.waitView(ctx, txID, func(v sandbox.TransactionRecord) bool {
			for _, w := range v.Webhooks {
				if w.Outcome == "pending" {
					return false
				}
			}
			return true
		})
		if e.settled(ctx, txID) == n {
			return n
		}
	}
}

// firstRun describes the first run of a workflow that continued as new.
func (e *env) firstRun(ctx context.Context, workflowID string) *workflowpb.WorkflowExecutionInfo {
	e.t.Helper()
	h := e.historyOf(ctx, workflowID, "")
	first := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetFirstExecutionRunId()
	require.NotEmpty(e.t, first)
	d, err := e.st.Client.DescribeWorkflowExecution(ctx, workflowID, first)
	require.NoError(e.t, err)
	return d.WorkflowExecutionInfo
}

// waitStatus polls the transaction's status until ok holds.
func (e *env) waitStatus(ctx context.Context, txID string, ok func(workflows.Status) bool) workflows.Status {
	e.t.Helper()
	for {
		st, err := e.operator.Status(ctx, txID)
		if err == nil && ok(st) {
			return st
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("transaction %s: status never as expected; last %+v (%v)", txID, st, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestReplayedWebhookNeitherGrowsTheHistoryNorCutsTheOrderOff: one captured webhook, posted
// 20,000 times (in parallel), reaches the order's workflow once: every copy is answered 2xx
// (none 503), the history grows by the one signal and the read it triggers, and the lender's
// cancellation afterwards still cancels the order. (Before the API dropped copies, each became
// a signal, and past Temporal's 10,000 signals per run every later webhook got 503.)
func TestReplayedWebhookNeitherGrowsTheHistoryNorCutsTheOrderOff(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, 5*time.Minute)
	o := e.place(ctx, demo.SampleOrder(workflows.TypeAppraisal, "LN-REPLAY-20K", "1 Harbor Way"))
	_, err := e.operator.WaitStage(ctx, o.ID, workflows.StageAwaitSchedule)
	require.NoError(t, err)
	before := e.quiet(ctx, o.ID)
	seen, err := e.operator.Status(ctx, o.ID)
	require.NoError(t, err)

	body := webhookBody(epc.WebhookUpdated, epc.ResourceTransaction, o.ID, e.st.SandboxURL+"/partner/v2/transactions/"+o.ID)
	sig := epc.Sign(sandbox.DefaultSigningKey, body)
	const copies, workers = 20_000, 32
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	statuses := make(chan int, copies)
	jobs := make(chan struct{}, copies)
	for range copies {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.st.APIURL+"/webhooks/epc", bytes.NewReader(body))
				if err != nil {
					statuses <- -1
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(epc.SignatureHeader, sig)
				resp, err := client.Do(req)
				if err != nil {
					statuses <- -1
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	require.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusOK: copies - 1}, counts,
		"one copy delivered (202), every other one answered as a duplicate (200); none refused or 503")

	after := e.settled(ctx, o.ID)
	growth := after - before
	t.Logf("history: %d events before %d replays, %d after (+%d)", before, copies, after, growth)
	require.LessOrEqual(t, growth, int64(10), "the signal and the read of the transaction it triggers, nothing more")
	st, err := e.operator.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, seen.WebhooksSeen+1, st.WebhooksSeen, "the replayed webhook counted once")

	e.cancel(ctx, o.ID)
}

// TestRecheckEndsOrdersWhoseWebhooksWereLost: the sandbox delivers only each order's creation
// webhooks; a lender's cancellation and a lender's update that supplies the missing input
// still end their orders right, found by the recheck.
func TestRecheckEndsOrdersWhoseWebhooksWereLost(t *testing.T) {
	needsTemporal(t)
	e := startStack(t, stack.Config{RecheckInterval: 2 * time.Second})
	ctx := ctxFor(t, 2*time.Minute)
	require.NoError(t, e.lender.SetWebhookBehavior(ctx, sandbox.WebhookBehavior{FirstOnly: true}))

	t.Run("cancellation", func(t *testing.T) {
		o := e.place(ctx, demo.SampleOrder(workflows.TypeAppraisal, "LN-LOST-CANCEL", "77 Levee Rd"))
		_, err := e.operator.WaitStage(ctx, o.ID, workflows.StageAwaitSchedule)
		require.NoError(t, err)
		// The step into the wait reads the transaction as it PATCHes: cancel only after it,
		// so that the cancellation is the recheck's to find (the step would find it too).
		waiting := vocab.Default().Get(vocab.StatusSchedulingInspection)
		e.waitView(ctx, o.ID, func(v sandbox.TransactionRecord) bool { return v.Response.PartnerStatus == waiting })
		v := e.cancel(ctx, o.ID)
		outcomes := map[string]int{}
		for _, w := range v.Webhooks {
			outcomes[w.Outcome]++
		}
		require.Equal(t, 2, outcomes["delivered"], "only the creation's webhooks came")
		require.Equal(t, len(v.Webhooks)-2, outcomes["withheld"], "the cancellation's (and every later) webhook never came")
		st, err := e.operator.Status(ctx, o.ID)
		require.NoError(t, err)
		require.Positive(t, st.Rechecks)
		e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "appraisal-canceled-by-recheck")
	})

	t.Run("lender input", func(t *testing.T) {
		req := demo.SampleOrder(workflows.TypeFloodCertification, "LN-LOST-INPUT", "")
		req.Loan = json.RawMessage(`{"loanNumber":"LN-LOST-INPUT"}`)
		o := e.place(ctx, req)
		e.waitView(ctx, o.ID, func(v sandbox.TransactionRecord) bool { return v.Response.Status == epc.StatusInputRequired })
		require.NoError(t, e.lender.UpdateRequest(ctx, o.ID, json.RawMessage(`{"loan":{"property":{"streetAddress":"12 Hilltop Ct","city":"Pleasanton","state":"CA","postalCode":"94588"}}}`)))
		res := e.await(ctx, o.ID)
		require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
		v := e.view(ctx, o.ID)
		require.Equal(t, []string{"processing", "inputRequired", "processing", "completed"}, nonEmpty(v.PatchStatuses()))
		e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "input-required-resumed-by-recheck")
	})
}

// TestContinueAsNewCarriesTheOrder: with Temporal suggesting continue-as-new early, an
// Appraisal continues as new at its waiting points and completes on a later run of the same
// workflow id, each effect once.
func TestContinueAsNewCarriesTheOrder(t *testing.T) {
	needsTemporal(t)
	e := startStack(t, stack.Config{TemporalDynamicConfig: map[string]any{"limit.historyCount.suggestContinueAsNew": 20}})
	ctx := ctxFor(t, 2*time.Minute)
	o := e.place(ctx, demo.SampleOrder(workflows.TypeAppraisal, "LN-CAN-1", "950 Bay St"))
	id := workflows.TransactionWorkflowID(o.ID)
	st := e.waitStatus(ctx, o.ID, func(st workflows.Status) bool { return st.Runs > 1 && st.Stage == workflows.StageAwaitSchedule })
	require.NotEmpty(t, st.LoanNumber, "the next run carries what the first one read")
	e.appraise(ctx, o.ID, 333000)
	final, err := e.operator.Status(ctx, o.ID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, final.Runs, 2)
	require.Equal(t, final.Runs, e.executions(ctx, o.ID), "one execution per run, one workflow id")

	// The first run ended by continuing as new; record it and the last run.
	first := e.firstRun(ctx, id)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, first.Status)
	if updateHistories {
		writeHistory(t, historiesDir("transaction"), "appraisal-continued-as-new-first-run", e.historyOf(ctx, id, first.Execution.RunId))
	}
	e.saveHistory(ctx, "transaction", id, "appraisal-continued-as-new-last-run")
}

// TestWebhookNotActedOnIsRecordedOnTheOrder: a verified webhook of a type epcflow does not act
// on is accepted and shows in the order's status with the event it names, read from EPC.
func TestWebhookNotActedOnIsRecordedOnTheOrder(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	o := e.place(ctx, demo.SampleOrder(workflows.TypeAppraisal, "LN-UNKNOWN-1", "12 Hilltop Ct"))
	_, err := e.operator.WaitStage(ctx, o.ID, workflows.StageAwaitSchedule)
	require.NoError(t, err)
	created := e.view(ctx, o.ID).EventsOfType(epc.EventRequestCreated)
	require.Len(t, created, 1)
	// An event webhook with an event type epcflow does not act on.
	body := webhookBody("updated", epc.ResourceTransactionEvent, created[0].ID,
		e.st.SandboxURL+"/partner/v2/transactions/"+o.ID+"/events/"+created[0].ID)
	require.Equal(t, http.StatusAccepted, e.postWebhook(body, sandbox.DefaultSigningKey).StatusCode)
	st := e.waitStatus(ctx, o.ID, func(st workflows.Status) bool { return len(st.Unhandled) == 1 && st.Unhandled[0].Event != nil })
	require.Equal(t, epc.EventRequestCreated, st.Unhandled[0].Event.Type)
	require.Equal(t, "updated", st.Unhandled[0].EventType)

	require.NoError(t, demo.Appraise(ctx, e.operator, o.ID, time.Millisecond, time.Millisecond, 275000))
	require.Equal(t, epc.StatusCompleted, e.await(ctx, o.ID).ResponseStatus)
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "webhook-not-acted-on")
}
