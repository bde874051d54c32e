package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

var cancelEvent = epc.Event{ID: "ev-cancel", Type: vocab.Default().Get(vocab.EventRequestCanceled), Comments: "borrower withdrew"}

// canceledWhileWaiting is the platform on which the lender cancels once the partner first
// lists the events (after the service events were sent).
type canceledWhileWaiting struct{ *fakeEPC }

func (c canceledWhileWaiting) ListEvents(ctx context.Context, id string) ([]epc.Event, error) {
	c.events = append(c.events, cancelEvent)
	return c.fakeEPC.ListEvents(ctx, id)
}

func TestAcknowledgeAndGather(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(f *fakeEPC)
		wantApplied bool
		wantOrder   bool
		wantCancel  string
		wantPatches int
	}{
		{name: "open", wantApplied: true, wantOrder: true, wantPatches: 1},
		{name: "canceled: acknowledged, not gathered", setup: func(f *fakeEPC) { f.events = []epc.Event{cancelEvent} }, wantApplied: true, wantCancel: "ev-cancel", wantPatches: 1},
		{name: "closed: neither", setup: func(f *fakeEPC) { f.tx.Status = epc.TransactionCompleted }},
		// Run again (a lost workflow task's local steps): what the steps after it did stands.
		{name: "acknowledged already, partner status moved on: holds, not written back", setup: func(f *fakeEPC) {
			f.tx.Response = &epc.Response{Status: epc.StatusProcessing, ReferenceNumber: "EPCF-1", PartnerStatus: "Flood Determined"}
		}, wantApplied: true, wantOrder: true},
		{name: "completed under our reference: not applied, and it says so", setup: func(f *fakeEPC) {
			f.tx.Status = epc.TransactionCompleted
			f.tx.Response = &epc.Response{Status: epc.StatusCompleted, ReferenceNumber: "EPCF-1"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEPC{tx: pendingTx("FloodCertification")}
			if tt.setup != nil {
				tt.setup(f)
			}
			out, err := newActs(t, f).AcknowledgeAndGather(context.Background(), PatchInput{TransactionID: "tx-1",
				Patch: epc.Response{Status: epc.StatusProcessing, ReferenceNumber: "EPCF-1", PartnerStatus: "Order Received"}})
			require.NoError(t, err)
			require.Equal(t, tt.wantApplied, out.Ack.Applied)
			require.Len(t, f.patches, tt.wantPatches)
			if f.tx.Response != nil {
				require.Equal(t, f.tx.Response.ReferenceNumber, out.Ack.Info.ResponseReference)
			}
			require.Equal(t, tt.wantCancel, out.Ack.Info.CanceledEventID)
			require.Equal(t, tt.wantOrder, out.Order != nil)
			if tt.wantOrder {
				require.True(t, out.Order.CredentialsValid)
				require.Equal(t, "1 Main St", out.Order.Property.StreetAddress)
			}
		})
	}
}

// TestSendAndAwaitServiceEventsStopsAtTheCancellation: the step the lean order waits in for
// the platform stops at the lender's cancellation, found before sending (nothing sent) or
// in the events it reads while waiting.
func TestSendAndAwaitServiceEventsStopsAtTheCancellation(t *testing.T) {
	processed := epc.Event{ID: "e2", Type: epc.EventResponseProcessed, Details: []byte(`{"action":"create_service_events","status":"Success","serviceEvents":[{"success":[{"code":"FLOOD-DETERMINED"}]}]}`)}
	tests := []struct {
		name        string
		platform    func(f *fakeEPC) EPC
		wantPatches int
		wantCancel  string
		wantOutcome bool
	}{
		{name: "processed", platform: func(f *fakeEPC) EPC { f.events = []epc.Event{processed}; return f }, wantPatches: 1, wantOutcome: true},
		{name: "canceled before", platform: func(f *fakeEPC) EPC { f.events = []epc.Event{cancelEvent}; return f }, wantCancel: "ev-cancel"},
		{name: "canceled while waiting", platform: func(f *fakeEPC) EPC { return canceledWhileWaiting{f} }, wantPatches: 1, wantCancel: "ev-cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEPC{tx: pendingTx("FloodCertification")}
			a := newActs(t, f)
			a.EPC, a.PollInterval = tt.platform(f), 1
			res, err := a.SendAndAwaitServiceEvents(context.Background(), ServiceEventsInput{
				TransactionID: "tx-1", Events: []epc.ServiceEvent{{Code: "FLOOD-DETERMINED", Title: "Flood zone X determined"}}, UnlessCanceled: true,
			})
			require.NoError(t, err)
			require.Len(t, f.patches, tt.wantPatches)
			require.Equal(t, tt.wantCancel, res.Sent.Info.CanceledEventID)
			require.Equal(t, tt.wantOutcome, res.Outcome != nil)
		})
	}
}

// TestUploadAndComplete: the files are uploaded and the response completed with them, once
// however often the step runs; a cancellation found first stops it before any upload, one
// found after the completion changes nothing.
func TestUploadAndComplete(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("FloodCertification")}
	a := newActs(t, f)
	pdf := RenderPDF([]string{"certificate"})
	sha, err := a.Blobs.PutBytes(context.Background(), pdf)
	require.NoError(t, err)
	in := CompleteInput{
		TransactionID: "tx-1", UnlessCanceled: true, WithRespondingParty: true,
		Files: []blobs.File{{SHA256: sha, Size: int64(len(pdf)), Name: FloodCertificateName, MimeType: "application/pdf"}},
		Patch: epc.Response{Status: epc.StatusCompleted, PartnerStatus: "Flood Certificate Delivered"},
	}

	f.events = []epc.Event{cancelEvent}
	out, err := a.UploadAndComplete(context.Background(), in)
	require.NoError(t, err)
	require.False(t, out.Complete.Applied)
	require.Equal(t, "ev-cancel", out.Complete.Info.CanceledEventID)
	require.Zero(t, f.uploads)
	require.Empty(t, f.patches)

	f.events = nil
	out, err = a.UploadAndComplete(context.Background(), in)
	require.NoError(t, err)
	require.True(t, out.Complete.Applied)
	require.Equal(t, []epc.Resource{{ID: "res-1", Name: FloodCertificateName, MimeType: "application/pdf"}}, out.Resources)
	require.Equal(t, epc.StatusCompleted, f.tx.Response.Status)
	require.Equal(t, out.Resources, f.tx.Response.Resources)
	require.Equal(t, "Partner", f.tx.Response.RespondingParty.Name)
	patches := len(f.patches)

	f.events = []epc.Event{cancelEvent} // the lender cancels after the completion; the step runs again
	again, err := a.UploadAndComplete(context.Background(), in)
	require.NoError(t, err)
	require.True(t, again.Complete.Applied, "the response holds the completion already")
	require.Equal(t, out.Resources, again.Resources)
	require.Equal(t, 1, f.uploads)
	require.Len(t, f.patches, patches)
}
