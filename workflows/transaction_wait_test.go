package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// The recheck and continue-as-new, in simulated time: DefaultRecheckInterval (6 h) applies.

// TestRecheckFindsAnUpdateWhoseWebhookWasLost: the lender supplies the missing input and no
// webhook comes; the next recheck reads the new request and the order resumes, within one
// interval.
func TestRecheckFindsAnUpdateWhoseWebhookWasLost(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	complete := f.p.order.Property
	f.p.order.Property.City = ""
	var updatedAt time.Time
	f.at(time.Hour, func() {
		require.Equal(t, workflows.StageInputRequired, f.status().Stage)
		updatedAt = f.env.Now()
		f.p.update(func(o *activities.OrderData) { o.Property = complete })
	})
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, []string{"processing", "inputRequired", "processing", "completed"}, f.statuses())
	st := f.status()
	require.Equal(t, 1, st.Rechecks)
	require.LessOrEqual(t, f.env.Now().Sub(updatedAt), workflows.DefaultRecheckInterval, "resumed within one interval")
}

// TestRecheckFindsACancellationWhoseWebhookWasLost, at each kind of wait: for the operator,
// for the lender. While the platform processes service events the order needs no recheck:
// the activity that waits for the outcome reads the events, and stops at the cancellation
// (activities' TestSendAndAwaitServiceEventsStopsAtTheCancellation); here it takes 30 h and
// the order, canceled meanwhile, completes nothing.
func TestRecheckFindsACancellationWhoseWebhookWasLost(t *testing.T) {
	tests := []struct {
		name        string
		requestType string
		before      func(f *fixture)
		rechecks    int
	}{
		{name: "awaiting schedule", requestType: workflows.TypeAppraisal, rechecks: 1},
		{name: "input required", requestType: workflows.TypeFloodCertification, before: func(f *fixture) { f.p.order.Property.State = "" }, rechecks: 1},
		{name: "awaiting the service events outcome", requestType: workflows.TypeFloodCertification, before: func(f *fixture) { f.outcomeTakes = 30 * time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.requestType, func(f *fixture) {
				if tt.before != nil {
					tt.before(f)
				}
			})
			canceledAt := 2 * time.Hour
			f.at(canceledAt, func() { f.p.cancel("ev-cancel") })
			start := f.env.Now()
			res := f.run()
			require.Equal(t, epc.StatusCanceled, res.ResponseStatus)
			st := f.status()
			require.Equal(t, workflows.StageCanceled, st.Stage)
			require.Equal(t, tt.rechecks, st.Rechecks)
			require.NotContains(t, f.statuses(), epc.StatusCompleted)
			if tt.rechecks > 0 {
				require.LessOrEqual(t, f.env.Now().Sub(start), canceledAt+workflows.DefaultRecheckInterval, "ended within one interval of the cancellation")
			}
		})
	}
}

// TestRecheckOnlyWhileWaiting: an order at work (a flood determination of 13 h) reads its
// transaction no more than it would anyway; an order waiting 13 h for its operator, twice.
func TestRecheckOnlyWhileWaiting(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification, func(f *fixture) { f.floodTakes = 13 * time.Hour })
	f.run()
	require.Zero(t, f.p.inspects)
	require.Zero(t, f.status().Rechecks)

	f = newFixture(t, workflows.TypeAppraisal)
	f.at(13*time.Hour, func() {
		f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
	})
	f.at(14*time.Hour, func() { f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 1}) })
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, 2, f.status().Rechecks, "two whole intervals waited for the schedule; the report came within one")
}

// continued runs the workflow until it continues as new and returns the next run's input.
func (f *fixture) continued(in workflows.TransactionInput) workflows.TransactionInput {
	f.t.Helper()
	f.env.ExecuteWorkflow(workflows.TransactionWorkflowName, in)
	require.True(f.t, f.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(f.t, f.env.GetWorkflowError(), &can)
	require.Equal(f.t, workflows.TransactionWorkflowName, can.WorkflowType.Name)
	var next workflows.TransactionInput
	require.NoError(f.t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

// TestContinueAsNewAtWaitingPoints: told to continue as new, an Appraisal does so at each
// waiting point, after the refresh a webhook started has finished; each next run carries the
// state and goes on from there, doing nothing twice.
func TestContinueAsNewAtWaitingPoints(t *testing.T) {
	in := workflows.TransactionInput{TransactionID: txID, InstanceID: "3010000024"}
	f := newFixture(t, workflows.TypeAppraisal, func(f *fixture) { f.inspectTakes = 30 * time.Minute })
	// A webhook's read is in flight when the suggestion comes: the run waits for it.
	f.at(time.Hour, func() {
		f.signal(workflows.WebhookSignal{EventID: "wh-1", EventType: epc.WebhookCreated, ResourceType: epc.ResourceTransactionEvent, ResourceID: "ev-1"})
	})
	f.at(time.Hour+time.Minute, func() { f.env.SetContinueAsNewSuggested(true) })
	next := f.continued(in)
	require.Equal(t, 1, f.p.inspects, "the read the webhook started finished first")
	r := next.Restored
	require.NotNil(t, r)
	require.Equal(t, "schedule", r.At)
	require.Equal(t, workflows.StageAwaitSchedule, r.Status.Stage)
	require.Equal(t, []string{"wh-1"}, r.Seen)
	require.Equal(t, workflows.TypeAppraisal, r.Order.RequestType)
	require.Equal(t, []string{"processing", ""}, f.statuses(), "acknowledged, partner status Scheduling Inspection")

	// The next run waits for the schedule without a PATCH, then continues at the report.
	g := newFixture(t, workflows.TypeAppraisal)
	g.p.patches = f.p.patches
	g.at(time.Hour, func() {
		require.Equal(t, workflows.StageAwaitSchedule, g.status().Stage)
		g.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
	})
	g.at(2*time.Hour, func() {
		g.env.SetContinueAsNewSuggested(true)
		g.signal(workflows.WebhookSignal{EventID: "wh-1", EventType: epc.WebhookCreated, ResourceType: epc.ResourceTransactionEvent, ResourceID: "ev-1"})
	})
	next = g.continued(next)
	require.Equal(t, "report", next.Restored.At)
	require.Equal(t, 2, next.Restored.Status.Runs)
	require.NotNil(t, next.Restored.Status.Inspection)
	require.Len(t, g.p.events, 1, "the inspection announced once")
	require.Equal(t, []string{"processing", "", ""}, g.statuses())

	// The last run takes the report and completes; a duplicate of the first webhook is still
	// known.
	h := newFixture(t, workflows.TypeAppraisal)
	h.p.patches = g.p.patches
	h.at(time.Hour, func() {
		h.signal(workflows.WebhookSignal{EventID: "wh-1", EventType: epc.WebhookCreated, ResourceType: epc.ResourceTransactionEvent, ResourceID: "ev-1"})
		h.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 420000})
	})
	h.env.ExecuteWorkflow(workflows.TransactionWorkflowName, next)
	require.NoError(t, h.env.GetWorkflowError())
	var res workflows.TransactionResult
	require.NoError(t, h.env.GetWorkflowResult(&res))
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, []string{"processing", "", "", "completed"}, h.statuses())
	require.Empty(t, h.p.events, "not announced again")
	st := h.status()
	require.Equal(t, 3, st.Runs)
	require.Equal(t, 1, st.WebhooksSeen, "the copy was known across runs")
	require.Len(t, st.Events, 1)
}

// TestContinueAsNewKeepsTheInputDeadline: a run continued while waiting for the lender's
// input fails the order when the deadline set by the first run passes, not a new one.
func TestContinueAsNewKeepsTheInputDeadline(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	f.p.order.Property.City = ""
	f.at(time.Hour, func() { f.env.SetContinueAsNewSuggested(true) })
	next := f.continued(workflows.TransactionInput{TransactionID: txID})
	require.Equal(t, "input", next.Restored.At)
	require.True(t, next.Restored.InputAsked)
	deadline := next.Restored.InputDeadline

	g := newFixture(t, workflows.TypeFloodCertification)
	g.p.order.Property.City = ""
	g.env.SetStartTime(deadline.Add(-time.Hour))
	g.env.ExecuteWorkflow(workflows.TransactionWorkflowName, next)
	require.NoError(t, g.env.GetWorkflowError())
	var res workflows.TransactionResult
	require.NoError(t, g.env.GetWorkflowResult(&res))
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	require.Equal(t, vocab.Default().Get(vocab.ErrorInputTimeout), res.Errors[0].Code)
	require.Equal(t, deadline, g.env.Now().UTC(), "failed at the first run's deadline")
	require.Equal(t, []string{"failed"}, g.statuses())
}
