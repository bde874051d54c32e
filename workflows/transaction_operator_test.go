package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/blobs"
)

// The operator actions' validators, on the workflow's state directly.

const txID = "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"

var pdfRef = blobs.File{SHA256: strings.Repeat("ab", 32), Size: 1234, Name: "report.pdf", MimeType: "application/pdf"}

// The same order and report for the tests of package workflows_test (exported only to tests).
var (
	TestTxID   = txID
	TestPDFRef = pdfRef
)

func TestActionsAfterCompletionRejected(t *testing.T) {
	s := &txState{in: TransactionInput{TransactionID: txID}, product: Appraisal{}, st: Status{Stage: StageCompleted, Closed: true}}
	require.ErrorContains(t, s.validateProgress(ProgressInput{Text: "late"}), "is closed (completed)")
	require.ErrorContains(t, s.validateSchedule(ScheduleInput{InspectionAt: time.Now()}), "is closed")
	require.ErrorContains(t, s.validateDeliver(DeliverInput{Report: pdfRef, AppraisedValue: 1}), "is closed")
	s = &txState{in: TransactionInput{TransactionID: txID}, product: Appraisal{}, cancelRequested: true}
	require.ErrorContains(t, s.validateProgress(ProgressInput{Text: "late"}), "canceled by the lender")
}

func TestDeliverValidation(t *testing.T) {
	s := &txState{product: Appraisal{}, schedule: &ScheduleInput{InspectionAt: time.Now()}, st: Status{RequestType: TypeAppraisal}}
	tests := []struct {
		name string
		in   DeliverInput
		want string
	}{
		{"no pdf", DeliverInput{AppraisedValue: 1}, "report: a PDF is required"},
		{"not a pdf", DeliverInput{Report: blobs.File{SHA256: pdfRef.SHA256, Size: 1, MimeType: "image/png"}, AppraisedValue: 1}, "report.mimeType"},
		{"bad sha", DeliverInput{Report: blobs.File{SHA256: "xyz", Size: 1, MimeType: "application/pdf"}, AppraisedValue: 1}, "report.sha256"},
		{"no value", DeliverInput{Report: pdfRef}, "appraisedValue"},
		{"ok", DeliverInput{Report: pdfRef, AppraisedValue: 1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.validateDeliver(tt.in)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestProgressLimitsCountCharacters: the limits are in characters, as the API checks them,
// so a text the API accepts is never refused here.
func TestProgressLimitsCountCharacters(t *testing.T) {
	s := &txState{in: TransactionInput{TransactionID: txID}, product: Appraisal{}, st: Status{Stage: StageAwaitReport}}
	tests := []struct {
		name     string
		in       ProgressInput
		accepted bool
	}{
		{"200 two-byte characters", ProgressInput{Text: strings.Repeat("é", 200)}, true},
		{"201 characters", ProgressInput{Text: strings.Repeat("a", 201)}, false},
		{"2000 characters of comments", ProgressInput{Text: "t", Comments: strings.Repeat("ü", 2000)}, true},
		{"2001 characters of comments", ProgressInput{Text: "t", Comments: strings.Repeat("u", 2001)}, false},
		{"no text", ProgressInput{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.validateProgress(tt.in)
			if tt.accepted {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
