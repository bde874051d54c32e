package workflows_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/workflows"
)

// upsertRecorder keeps what each search-attribute upsert of the order set: its EpcStage
// ("-" when it set none) and whether it set the loan number.
type upsertRecorder struct {
	mu     sync.Mutex
	stages []string
	loan   []bool
}

func recordUpserts(f *fixture) *upsertRecorder {
	r := &upsertRecorder{}
	f.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		r.mu.Lock()
		defer r.mu.Unlock()
		stage, ok := sa.GetKeyword(workflows.SAStage)
		if !ok {
			stage = "-"
		}
		_, loan := sa.GetKeyword(workflows.SALoanNumber)
		r.stages, r.loan = append(r.stages, stage), append(r.loan, loan)
	}).Return(nil)
	return r
}

// TestSearchAttributesAreUpsertedWhereTheyOutlastAStep: each upsert is a visibility write,
// so from the lean order's quiet version on an order upserts its search attributes where they
// say something that lasts: once it has learned its transaction (loan, product), when it
// enters or leaves a wait, and as it ends. The steps of its work in between are not upserted.
func TestSearchAttributesAreUpsertedWhereTheyOutlastAStep(t *testing.T) {
	t.Run("flood certification", func(t *testing.T) {
		f := newFixture(t, workflows.TypeFloodCertification)
		r := recordUpserts(f)
		f.run()
		require.Equal(t, []string{workflows.StageCompleted}, r.stages,
			"its steps run local in its first workflow task: what it learned goes with how it ended")
		require.Equal(t, []bool{true}, r.loan)
	})
	t.Run("appraisal", func(t *testing.T) {
		f := newFixture(t, workflows.TypeAppraisal)
		r := recordUpserts(f)
		f.at(time.Hour, func() {
			f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC), Appraiser: "Scott Cooper"})
		})
		f.at(2*time.Hour, func() {
			f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 500000})
		})
		f.run()
		require.Equal(t, []string{workflows.StageAwaitSchedule, "-", workflows.StageAwaitReport, workflows.StageServiceEvents, workflows.StageCompleted}, r.stages,
			"learned and waiting; the partner status of the schedule, posted while it waits; awaiting the report; at work again (the API reads it); completed")
	})
}
