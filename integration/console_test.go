package integration

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// TestConsoleReads: what the operator console reads of a real Temporal server. Orders are
// found in visibility by stage, request type and loan number, with their due dates; an
// order's history holds every operator action with who acted; packages and payment sessions
// are listed with their state.
func TestConsoleReads(t *testing.T) {
	e := startDelivery(t, 0)
	ctx := ctxFor(t, 3*time.Minute)
	con := starter.NewConsole(e.st.Client, nil, nil)
	op := demo.NewOperator(e.st.APIURL, "")
	op.Actor = "Grace Hopper"
	loan := "CONSOLE-IT"

	// An Appraisal without the property's address: epcflow asks the lender for it.
	noAddr := demo.SampleOrder(workflows.TypeAppraisal, loan+"-1", "")
	noAddr.Loan = json.RawMessage(`{"loanNumber":"` + loan + `-1"}`)
	o, err := e.lender.PlaceOrder(ctx, noAddr)
	require.NoError(t, err)
	flood, err := e.lender.PlaceOrder(ctx, demo.SampleOrder(workflows.TypeFloodCertification, loan+"-2", "77 Levee Rd"))
	require.NoError(t, err)
	_, err = op.WaitStage(ctx, o.ID, workflows.StageInputRequired)
	require.NoError(t, err)
	e.await(ctx, flood.ID)

	// visible waits until visibility shows what f selects as want says (it lags the workflows).
	visible := func(what string, f starter.OrderFilter, want func([]starter.OrderRow) bool) []starter.OrderRow {
		t.Helper()
		var rows []starter.OrderRow
		require.Eventually(t, func() bool {
			page, err := con.Orders(ctx, f, 50, nil)
			require.NoError(t, err)
			rows = page.Rows
			return want(rows)
		}, time.Minute, 50*time.Millisecond, "%s: visibility shows %+v", what, rows)
		return rows
	}
	one := func(id string) func([]starter.OrderRow) bool {
		return func(rows []starter.OrderRow) bool { return len(rows) == 1 && rows[0].TransactionID == id }
	}

	rows := visible("waiting for input", starter.OrderFilter{Stages: []string{workflows.StageInputRequired}, Search: loan}, one(o.ID))
	r := rows[0]
	require.Equal(t, loan+"-1", r.LoanNumber)
	require.Equal(t, workflows.TypeAppraisal, r.RequestType)
	require.Equal(t, "Running", r.Status)
	require.WithinDuration(t, time.Now().Add(workflows.DefaultInputDeadline), r.DueAt, time.Minute, "due: the lender's deadline")
	n, err := con.CountOrders(ctx, starter.OrderFilter{Search: loan})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "one open order under this loan prefix")
	visible("the flood order, finished", starter.OrderFilter{Finished: true, RequestType: workflows.TypeFloodCertification, Search: loan + "-2"}, one(flood.ID))

	// The lender supplies the address; the operator schedules and delivers, named.
	require.NoError(t, e.lender.UpdateRequest(ctx, o.ID, json.RawMessage(`{"loan":{"property":{"streetAddress":"1 Main St","city":"Pleasanton","state":"CA","postalCode":"94588"}}}`)))
	_, err = op.WaitStage(ctx, o.ID, workflows.StageAwaitSchedule)
	require.NoError(t, err)
	visible("waiting to be scheduled, nothing due", starter.OrderFilter{Stages: []string{workflows.StageAwaitSchedule}, Search: loan},
		func(rows []starter.OrderRow) bool { return one(o.ID)(rows) && rows[0].DueAt.IsZero() })
	inspection := time.Now().Add(50 * time.Hour).Truncate(time.Minute).UTC()
	_, err = op.Schedule(ctx, o.ID, inspection, "Scott Cooper")
	require.NoError(t, err)
	_, err = op.WaitStage(ctx, o.ID, workflows.StageAwaitReport)
	require.NoError(t, err)
	visible("waiting for the report, due at the inspection", starter.OrderFilter{Stages: []string{workflows.StageAwaitReport}, Search: loan},
		func(rows []starter.OrderRow) bool { return one(o.ID)(rows) && rows[0].DueAt.Equal(inspection) })
	op.Actor = "Ada Lovelace"
	_, err = op.Deliver(ctx, o.ID, demo.SampleReport(o.ID, 500000), 500000)
	require.NoError(t, err)
	e.await(ctx, o.ID)
	visible("completed, nothing due", starter.OrderFilter{Finished: true, Search: loan + "-1"},
		func(rows []starter.OrderRow) bool {
			return one(o.ID)(rows) && rows[0].Stage == workflows.StageCompleted && rows[0].DueAt.IsZero()
		})
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "appraisal-input-actors")

	// The history: who acted, what the lender received.
	h, err := con.Order(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, "Completed", h.Status)
	actors := map[string]string{}
	var summaries []string
	for _, ev := range h.Events {
		switch ev.Type {
		case "WorkflowExecutionUpdateAccepted":
			var in struct{ Actor string }
			require.NoError(t, json.Unmarshal(ev.Input, &in))
			actors[ev.Name] = in.Actor
		case "ActivityTaskScheduled", "MarkerRecorded": // an activity, a local one
			summaries = append(summaries, ev.Summary)
		}
	}
	require.Equal(t, map[string]string{workflows.UpdateSchedule: "Grace Hopper", workflows.UpdateDeliver: "Ada Lovelace"}, actors)
	for _, want := range []string{"acknowledge and gather order data", "input required: inputRequired", "post inspection scheduled", "send service events and await the outcome", "upload and complete"} {
		require.Contains(t, summaries, want)
	}
	_, err = con.Order(ctx, "no-such-transaction")
	require.ErrorIs(t, err, starter.ErrNotFound)

	// A package and two payment sessions, with their state.
	ev := pos.PackageEvent{InstanceID: "inst-c", GroupNamespace: "loans", GroupID: "loan-guid-c", PackageID: "pkg-c",
		Recipients: []pos.Recipient{{RecipientID: "rcp-1", FirstName: "Alice", LastName: "B", Email: "alice@example.com", Role: pos.RoleBorrower}}}
	e.createPackage(ev)
	s := &payments{env: e.env, t: t}
	paid := s.create(paymentBody(t, nil))
	s.act(paid.POSSessionUUID, "complete", "")
	require.Equal(t, pos.StatusCompleted, s.result(paid.ID).Status)
	open := s.create(paymentBody(t, nil))
	var packages []starter.PackageRow
	require.Eventually(t, func() bool {
		packages, _, err = con.Packages(ctx, 10, nil)
		require.NoError(t, err)
		return len(packages) == 1
	}, time.Minute, 50*time.Millisecond)
	require.Equal(t, ev.Key(), packages[0].ID)
	require.Equal(t, "Running", packages[0].Status)
	require.Empty(t, packages[0].StateErr)
	require.Equal(t, []workflows.RecipientStatus{{RecipientID: "rcp-1", Role: pos.RoleBorrower}}, packages[0].State.Recipients)
	var sessions []starter.PaymentRow
	require.Eventually(t, func() bool {
		sessions, _, err = con.Payments(ctx, 10, nil)
		require.NoError(t, err)
		return len(sessions) == 2 && !slices.ContainsFunc(sessions, func(p starter.PaymentRow) bool { return p.ID == paid.ID && p.Status == "Running" })
	}, time.Minute, 50*time.Millisecond)
	for _, p := range sessions {
		require.Empty(t, p.StateErr)
		switch p.ID {
		case paid.ID:
			require.Equal(t, pos.StatusCompleted, p.State.Status, "a finished session's state is its result")
		case open.ID:
			require.Equal(t, pos.StatusPending, p.State.Status, "a running session's state is its status query's")
		default:
			t.Fatalf("unexpected session %+v", p)
		}
	}
}
