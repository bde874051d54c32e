package workflows_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/epc"
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
// so from lean-order 2 on an order upserts its search attributes where they say something
// that lasts: what it learned of its transaction, entering or leaving a wait, and how it
// ended. A flood order's first steps run local in its first workflow task, so what it
// learned goes in one upsert with the upload's schedule, and the rest with its end.
func TestSearchAttributesAreUpsertedWhereTheyOutlastAStep(t *testing.T) {
	t.Run("flood certification", func(t *testing.T) {
		f := newFixture(t, workflows.TypeFloodCertification)
		r := recordUpserts(f)
		f.run()
		require.Equal(t, []string{workflows.StageUploading, workflows.StageCompleted}, r.stages,
			"its first steps run local in its first workflow task, which ends with the upload's schedule")
		require.Equal(t, []bool{true, false}, r.loan)
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

// TestAnOrderCompletedByAnEarlierRunOfItsStepsEndsCompleted: a worker lost while its workflow
// task ran the order's local steps loses them from the history, and the next one runs them
// again; finding the response completed under our reference, the order ends completed, not
// "closed by others", and writes nothing.
func TestAnOrderCompletedByAnEarlierRunOfItsStepsEndsCompleted(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	f.p.closed = true
	f.p.patches = []epc.Response{{Status: epc.StatusCompleted, ReferenceNumber: workflows.ReferenceNumber(txID)}}
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, workflows.StageCompleted, f.status().Stage)
	require.Len(t, f.p.patches, 1, "nothing written again")

	other := newFixture(t, workflows.TypeFloodCertification)
	other.p.closed = true
	other.p.patches = []epc.Response{{Status: epc.StatusCompleted, ReferenceNumber: "SOMEONE-ELSE"}}
	other.run()
	require.Equal(t, workflows.StageClosedByOthers, other.status().Stage)
}

// TestASlowStepRunsAgainAsAnActivity: a local step that does not succeed within its budget
// (the platform down) goes on as an activity, whose retries wait in Temporal.
func TestASlowStepRunsAgainAsAnActivity(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	f.p.intakeFails = 5 // local tries at 0, 1, 3 and 7 s; the 10 s budget ends before the next
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Greater(t, f.p.intakeTries, 5, "tried again as an activity until it passed")
	require.Equal(t, []string{"processing", "completed"}, f.statuses())
}
