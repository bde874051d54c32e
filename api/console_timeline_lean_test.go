package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The lean order's combined steps read on the order page as the steps they did.
func TestCombinedStepsReadAsTheirSteps(t *testing.T) {
	report := blobs.File{Name: "AppraisalReport.pdf", MimeType: "application/pdf", Size: 766}
	order := activities.OrderData{TxInfo: activities.TxInfo{RequestType: "Appraisal", LoanNumber: "L-1"}}
	for _, tc := range []struct {
		name   string
		act    string
		in     any
		out    any
		titles []string
	}{
		{"acknowledge and gather", workflows.ActivityAcknowledgeAndGather,
			activities.PatchInput{TransactionID: "t", Patch: epc.Response{PartnerStatus: "Order Received"}},
			activities.IntakeOutcome{Ack: activities.PatchOutcome{Applied: true}, Order: &order},
			[]string{"PATCH response", "Gather order data"}},
		{"acknowledged a canceled order", workflows.ActivityAcknowledgeAndGather,
			activities.PatchInput{TransactionID: "t"},
			activities.IntakeOutcome{Ack: activities.PatchOutcome{Applied: true, Info: activities.TxInfo{CanceledEventID: "e"}}},
			[]string{"PATCH response"}},
		{"upload and complete", workflows.ActivityUploadAndComplete,
			activities.CompleteInput{TransactionID: "t", Files: []blobs.File{report}, Patch: epc.Response{Status: epc.StatusCompleted}},
			activities.CompleteOutcome{Resources: []epc.Resource{{ID: "r1", Name: report.Name}}, Complete: activities.PatchOutcome{Applied: true}},
			[]string{"File to the lender: AppraisalReport.pdf", "PATCH response: completed"}},
		{"canceled before the upload", workflows.ActivityUploadAndComplete,
			activities.CompleteInput{TransactionID: "t", Files: []blobs.File{report}, UnlessCanceled: true},
			activities.CompleteOutcome{Complete: activities.PatchOutcome{Info: activities.TxInfo{CanceledEventID: "e"}}},
			nil},
		{"acknowledge and gather, run local (no input recorded)", workflows.ActivityAcknowledgeAndGather, nil,
			activities.IntakeOutcome{Ack: activities.PatchOutcome{Applied: true, Info: activities.TxInfo{ResponseStatus: epc.StatusProcessing, ResponseReference: "EPCF-1"}}, Order: &order},
			[]string{"PATCH response: processing", "Gather order data"}},
		{"upload and complete, run local (no input recorded)", workflows.ActivityUploadAndComplete, nil,
			activities.CompleteOutcome{Resources: []epc.Resource{{ID: "r1", Name: report.Name, MimeType: report.MimeType}}, Complete: activities.PatchOutcome{Applied: true, Info: activities.TxInfo{ResponseStatus: epc.StatusCompleted}}},
			[]string{"File to the lender: AppraisalReport.pdf", "PATCH response: completed"}},
		{"an activity of its own", workflows.ActivityInspectTransaction, "t", activities.TxInfo{}, []string{workflows.ActivityInspectTransaction}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in json.RawMessage
			if tc.in != nil {
				in = mustMarshal(t, tc.in)
			}
			out, _ := json.Marshal(tc.out)
			var titles []string
			for _, e := range activityEntries(starter.Event{Name: tc.act, Input: in}, out) {
				titles = append(titles, e.Title)
			}
			require.Equal(t, tc.titles, titles)
		})
	}
	got := orderData(workflows.ActivityAcknowledgeAndGather, mustMarshal(t, activities.IntakeOutcome{Order: &order}))
	var o activities.OrderData
	require.NoError(t, json.Unmarshal(got, &o))
	require.Equal(t, "L-1", o.LoanNumber)
	require.Nil(t, orderData(workflows.ActivityAcknowledgeAndGather, mustMarshal(t, activities.IntakeOutcome{})))
}

// A local activity's run is one marker event: the timeline tells its steps, its failure,
// and the order page what the lender asked from it.
func TestLocalActivitiesReadAsTheirSteps(t *testing.T) {
	order := activities.OrderData{TxInfo: activities.TxInfo{RequestType: "Flood Certification", LoanNumber: "L-2"}}
	intake := activities.IntakeOutcome{Ack: activities.PatchOutcome{Applied: true, Info: activities.TxInfo{ResponseStatus: epc.StatusProcessing}}, Order: &order}
	h := starter.OrderHistory{Events: []starter.Event{
		{ID: 8, Type: "MarkerRecorded", Name: workflows.ActivityAcknowledgeAndGather, Result: mustMarshal(t, intake)},
		{ID: 9, Type: "MarkerRecorded", Name: workflows.ActivityDetermineFlood, Attempt: 2, Result: mustMarshal(t, activities.FloodDetermination{Zone: "AE"})},
		{ID: 10, Type: "MarkerRecorded", Name: workflows.ActivityUploadAndComplete, Failure: "platform unavailable"},
	}}
	var titles, retries []string
	for _, e := range buildTimeline(h) {
		titles, retries = append(titles, e.Title), append(retries, e.Retries)
	}
	require.Equal(t, []string{"PATCH response: processing", "Gather order data", workflows.ActivityDetermineFlood, workflows.ActivityUploadAndComplete + " failed"}, titles)
	require.Equal(t, []string{"", "", "2 attempts", ""}, retries)
	require.Equal(t, "L-2", askedFrom(h).LoanNumber)
}

func mustMarshal(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
