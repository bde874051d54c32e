package workflows_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// What the operator console reads of a transaction: who acted, and when what the order waits
// for falls due (the status and the EpcDueAt search attribute).

// dueRecorder keeps every EpcDueAt value the workflow sets (the SDK's typed attributes do not
// show an unset: the status and the integration test check that).
type dueRecorder struct {
	mu  sync.Mutex
	got []time.Time
}

func recordDue(f *fixture) *dueRecorder {
	r := &dueRecorder{}
	f.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		r.mu.Lock()
		defer r.mu.Unlock()
		if v, ok := sa.GetTime(workflows.SADueAt); ok {
			r.got = append(r.got, v)
		}
	}).Return(nil)
	return r
}

func TestAppraisalRecordsActorsAndInspectionDue(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	due := recordDue(f)
	when := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	var awaiting workflows.Status
	f.at(time.Hour, func() {
		require.True(t, f.status().DueAt.IsZero(), "nothing is due while the inspection is unscheduled")
		f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: when, Appraiser: "Scott Cooper", Actor: "Ada Lovelace"})
	})
	f.at(2*time.Hour, func() {
		awaiting = f.status()
		f.update(workflows.UpdateProgress, workflows.ProgressInput{Text: "Report in review", Actor: "Grace Hopper"})
	})
	f.at(3*time.Hour, func() {
		f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 500000, Actor: "Ada Lovelace"})
	})
	f.run()

	require.Equal(t, workflows.StageAwaitReport, awaiting.Stage)
	require.Equal(t, when, awaiting.DueAt, "awaiting the report: due is the inspection")
	require.Equal(t, []time.Time{when}, due.got, "set at awaiting-report")

	st := f.status()
	require.True(t, st.DueAt.IsZero())
	require.Equal(t, "Ada Lovelace", st.Inspection.Actor)
	require.Equal(t, "Ada Lovelace", st.Report.Actor)
	actors := map[string]string{}
	for _, e := range st.Events {
		actors[e.Type] = e.Actor
	}
	require.Equal(t, map[string]string{vocab.Default().Get(vocab.EventAppraisalScheduled): "Ada Lovelace", vocab.Default().Get(vocab.EventProgress): "Grace Hopper"}, actors)
}

func TestInputRequiredDueIsTheDeadline(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	due := recordDue(f)
	city := f.p.order.Property.City
	f.p.order.Property.City = ""
	var waiting workflows.Status
	start := f.env.Now()
	f.at(time.Hour, func() {
		waiting = f.status()
		f.p.update(func(o *activities.OrderData) { o.Property.City = city })
		f.signal(workflows.WebhookSignal{EventID: "upd-1", EventType: epc.WebhookUpdated, ResourceType: epc.ResourceTransaction, ResourceID: txID})
	})
	f.run()

	require.Equal(t, workflows.StageInputRequired, waiting.Stage)
	require.Equal(t, []time.Time{waiting.DueAt}, due.got)
	// Asked as the order started (simulated time), due 72 hours later.
	require.WithinDuration(t, start.Add(workflows.DefaultInputDeadline), waiting.DueAt, time.Minute)
	require.True(t, f.status().DueAt.IsZero(), "nothing due once the lender answered")
}

func TestActorLimitedInValidators(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	long := strings.Repeat("é", workflows.MaxActorLen+1)
	var sched, prog, ok *updateResult
	f.at(time.Hour, func() {
		sched = f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Now(), Actor: long})
		prog = f.update(workflows.UpdateProgress, workflows.ProgressInput{Text: "t", Actor: long})
		ok = f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Now(), Actor: long[:2*workflows.MaxActorLen]})
	})
	f.at(2*time.Hour, func() {
		f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 1, Actor: long})
		f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 1})
	})
	f.run()
	require.ErrorContains(t, sched.rejected, "actor is limited to 200 characters")
	require.ErrorContains(t, prog.rejected, "actor is limited to 200 characters")
	require.NoError(t, ok.rejected, "200 characters of two bytes each are allowed")
}

// TestClientIDFromTheTransaction: the lender's client id is the transaction's clientId, set in
// EpcClientId at the first read, whatever the webhook's meta.instanceId (the EPC instance) is;
// it was never set when the two were equal (issue 14).
func TestClientIDFromTheTransaction(t *testing.T) {
	for _, instance := range []string{"BE11172718", "3010000024", ""} {
		t.Run("instance "+instance, func(t *testing.T) {
			f := newFixture(t, workflows.TypeFloodCertification, func(f *fixture) { f.instanceID = instance })
			var mu sync.Mutex
			var set []string
			f.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(workflows.SAClientID); ok {
					mu.Lock()
					set = append(set, v)
					mu.Unlock()
				}
			}).Return(nil)
			f.run()
			require.Equal(t, []string{"3010000024"}, set, "EpcClientId set once, to the transaction's clientId")
			st := f.status()
			require.Equal(t, "3010000024", st.ClientID)
			require.Equal(t, instance, st.InstanceID)
		})
	}
}
