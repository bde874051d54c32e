package workflows_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// The order's state never shows a zero time ("0001-01-01T00:00:00Z"): what the workflow did
// not learn it leaves out, and what it did it dates with its own clock.

// rawStatus is the status query's answer as JSON, as the API and the UI show it.
func (f *fixture) rawStatus() string {
	v, err := f.env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(f.t, err)
	var raw json.RawMessage
	require.NoError(f.t, v.Get(&raw))
	return string(raw)
}

// TestDeliveryWithoutCompletionDate: the report's completedAt is the date the lender was
// sent, the workflow's time of the delivery.
func TestDeliveryWithoutCompletionDate(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	var accepted string
	f.at(time.Hour, func() {
		f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
	})
	f.at(2*time.Hour, func() {
		f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 500000})
		accepted = f.rawStatus()
	})
	require.Equal(t, epc.StatusCompleted, f.run().ResponseStatus)

	require.NotContains(t, accepted, "0001-01-01", "state once the report is accepted")
	st := f.status()
	require.NotNil(t, st.Report)
	require.False(t, st.Report.CompletedAt.IsZero(), "report.completedAt")
	var loan struct {
		UnderwriterSummary struct {
			AppraisalCompletedDate string `json:"appraisalCompletedDate"`
		} `json:"underwriterSummary"`
	}
	require.NoError(t, json.Unmarshal(f.p.patches[len(f.p.patches)-1].Loan, &loan))
	require.Equal(t, loan.UnderwriterSummary.AppraisalCompletedDate, st.Report.CompletedAt.UTC().Format(time.RFC3339),
		"the state says what the lender was told")
	require.NotContains(t, f.rawStatus(), "0001-01-01")
}

// TestCancelEventIsDated: the lender's cancellation is recorded with the workflow's time of
// learning it, whichever read brought it (a webhook's, or a recheck's when the webhook was lost).
func TestCancelEventIsDated(t *testing.T) {
	for _, tt := range []struct {
		name      string
		webhook   bool
		learnedAt time.Duration
	}{
		{"by its webhook", true, time.Hour},
		{"by a recheck", false, workflows.DefaultRecheckInterval},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, workflows.TypeAppraisal)
			start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
			f.env.SetStartTime(start)
			f.at(time.Hour, func() {
				f.p.cancel("ev-cancel")
				if tt.webhook {
					f.signal(cancelWebhook("ev-cancel"))
				}
			})
			require.Equal(t, epc.StatusCanceled, f.run().ResponseStatus)
			var found bool
			for _, ev := range f.status().Events {
				if ev.Type != vocab.Default().Get(vocab.EventRequestCanceled) {
					continue
				}
				found = true
				want := start.Add(tt.learnedAt)
				require.WithinDuration(t, want, ev.At, time.Minute, "cancellation dated %s, want about %s", ev.At, want)
			}
			require.True(t, found, "no cancellation event in the state")
			require.NotContains(t, f.rawStatus(), "0001-01-01")
		})
	}
}
