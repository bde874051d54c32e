package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/workflows"
)

// TestWebhookNeeded: a transaction event's webhook reaches every order that could miss what
// it tells (a waiting one, one recorded before the lean order), and no lean order at work.
func TestWebhookNeeded(t *testing.T) {
	lean := []string{"lean-order-1"}
	quiet := []string{"lean-order-2"}
	old := []string{"webhook-path-1", "client-id-from-transaction-1"}
	tests := []struct {
		name     string
		stage    string
		versions []string
		firstRun bool
		want     bool
	}{
		{name: "first task not done yet", firstRun: true, want: false},
		{name: "a continued run before its first task", firstRun: false, want: true},
		{name: "lean, gathering", stage: workflows.StageGathering, versions: lean, want: false},
		{name: "lean, service events", stage: workflows.StageServiceEvents, versions: lean, want: false},
		{name: "lean, uploading", stage: workflows.StageUploading, versions: lean, want: false},
		{name: "lean, input required", stage: workflows.StageInputRequired, versions: lean, want: true},
		{name: "lean, awaiting schedule", stage: workflows.StageAwaitSchedule, versions: lean, want: true},
		{name: "lean, awaiting report", stage: workflows.StageAwaitReport, versions: lean, want: true},
		{name: "lean, canceled (compensating)", stage: workflows.StageCanceled, versions: lean, want: true},
		{name: "quiet, at work after its wait", stage: workflows.StageServiceEvents, versions: quiet, want: false},
		{name: "quiet, awaiting report", stage: workflows.StageAwaitReport, versions: quiet, want: true},
		{name: "before the lean order, at work", stage: workflows.StageUploading, versions: old, want: true},
		{name: "no versions known", stage: workflows.StageWorking, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, workflows.WebhookNeeded(tt.stage, tt.versions, tt.firstRun))
		})
	}
}
