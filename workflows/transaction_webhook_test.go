package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/workflows"
)

// TestWebhooksNotActedOnAreRecorded: a webhook of a type epcflow does not act on reads
// nothing but the event it names, and shows in the status; the order goes on.
func TestWebhooksNotActedOnAreRecorded(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.at(time.Minute, func() {
		f.signal(workflows.WebhookSignal{EventID: "w1", EventType: "updated", ResourceType: epc.ResourceTransactionEvent, ResourceID: "ev-9", EventTime: at})
		f.signal(workflows.WebhookSignal{EventID: "w2", EventType: "created", ResourceType: "urn:elli:epc:transaction:message", ResourceID: "m-1", RefEventID: "ev-10", EventTime: at})
		f.signal(workflows.WebhookSignal{EventID: "w3", EventType: "deleted", ResourceType: epc.ResourceTransaction, ResourceID: txID, EventTime: at})
	})
	f.at(time.Hour, func() {
		st := f.status()
		require.Equal(t, 3, st.UnhandledWebhooks)
		require.Len(t, st.Unhandled, 3)
		byID := map[string]workflows.UnhandledWebhook{}
		for _, u := range st.Unhandled {
			byID[u.EventID] = u
		}
		require.Equal(t, "ev-9", byID["w1"].Event.ID)
		require.Equal(t, "urn:elli:epc:transaction:message", byID["w1"].Event.Type)
		require.Equal(t, "ev-10", byID["w2"].Event.ID)
		require.Nil(t, byID["w3"].Event, "names no event")
		require.Equal(t, "deleted", byID["w3"].EventType)
		require.Zero(t, f.p.inspects, "nothing acted on: no read of the transaction")
		f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
	})
	f.at(2*time.Hour, func() { f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 1}) })
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	// Each event read once; the two reads run side by side, in either order.
	require.ElementsMatch(t, []activities.EventRef{{TransactionID: txID, EventID: "ev-9"}, {TransactionID: txID, EventID: "ev-10"}}, f.p.reads)
}

// TestWebhooksWithoutEventIDAreKnownByTheirBody: two different webhooks of one second are
// two; a copy of either is one of them.
func TestWebhooksWithoutEventIDAreKnownByTheirBody(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	sec := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a := workflows.WebhookSignal{EventType: epc.WebhookUpdated, ResourceType: epc.ResourceTransaction, ResourceID: txID, EventTime: sec, BodySHA256: "aa"}
	b := a
	b.BodySHA256 = "bb"
	f.at(time.Minute, func() {
		for _, s := range []workflows.WebhookSignal{a, b, a, b} {
			f.signal(s)
		}
	})
	f.at(time.Hour, func() {
		require.Equal(t, 2, f.status().WebhooksSeen)
		f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
	})
	f.at(2*time.Hour, func() { f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 1}) })
	require.Equal(t, epc.StatusCompleted, f.run().ResponseStatus)
}
