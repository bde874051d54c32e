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
		{"an activity of its own", workflows.ActivityInspectTransaction, "t", activities.TxInfo{}, []string{workflows.ActivityInspectTransaction}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := json.Marshal(tc.in)
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

func mustMarshal(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
