package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/accounts"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
)

// fakeEPC is an in-memory platform that counts what the activities did.
type fakeEPC struct {
	tx           epc.Transaction
	events       []epc.Event
	patches      []epc.Response
	created      int
	uploads      int
	slots        int
	filled       map[string]int // the PUTs whose bytes were stored, by slot
	patchErr     error
	getErr       error
	closeOnPatch bool
	// patchFaults answer the next PATCHes in turn: applied first (a lost reply) or not.
	patchFaults []fault
	// uploadFaults answer the next uploads in turn, the bytes never stored.
	uploadFaults []error
	// eventFaults answer the next event creations in turn, applied first or not.
	eventFaults []fault
}

// fault is a failed call; applied says the platform acted before the reply was lost.
type fault struct {
	applied bool
	err     error
}

var lostReply = &epc.APIError{Status: 502, Retryable: true, Message: "bad gateway"}

func (f *fakeEPC) GetTransaction(_ context.Context, id string) (*epc.Transaction, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	t := f.tx
	t.Events = append([]epc.Event(nil), f.events...)
	return &t, nil
}
func (f *fakeEPC) ListRequestResources(context.Context, string) ([]epc.Resource, error) {
	return []epc.Resource{{ID: "att-1", Name: "contract.pdf", MimeType: "application/pdf", URL: "http://x/secret"}}, nil
}
func (f *fakeEPC) PatchResponse(_ context.Context, _ string, r *epc.Response) error {
	if f.patchErr != nil {
		return f.patchErr
	}
	var ft *fault
	if len(f.patchFaults) > 0 {
		ft, f.patchFaults = &f.patchFaults[0], f.patchFaults[1:]
		if !ft.applied {
			return ft.err
		}
	}
	f.patches = append(f.patches, *r)
	if f.tx.Response == nil {
		f.tx.Response = &epc.Response{}
	}
	if r.Status != "" {
		f.tx.Response.Status = r.Status
	}
	if r.PartnerStatus != "" {
		f.tx.Response.PartnerStatus = r.PartnerStatus
	}
	if r.RespondingParty != nil {
		f.tx.Response.RespondingParty = r.RespondingParty
	}
	if r.Result != nil {
		f.tx.Response.Result = r.Result
	}
	if r.Resources != nil {
		f.tx.Response.Resources = r.Resources
	}
	if epc.IsClosingStatus(r.Status) {
		f.tx.Status = epc.TransactionCompleted
	}
	if ft != nil {
		return ft.err
	}
	return nil
}
func (f *fakeEPC) ListEvents(context.Context, string) ([]epc.Event, error) { return f.events, nil }
func (f *fakeEPC) GetEvent(_ context.Context, _, id string) (*epc.Event, error) {
	for _, e := range f.events {
		if e.ID == id {
			return &e, nil
		}
	}
	return nil, &epc.APIError{Status: 404, Message: "not found"}
}
func (f *fakeEPC) CreateEvent(_ context.Context, _ string, e epc.NewEvent) (*epc.Event, error) {
	var ft *fault
	if len(f.eventFaults) > 0 {
		ft, f.eventFaults = &f.eventFaults[0], f.eventFaults[1:]
		if !ft.applied {
			return nil, ft.err
		}
	}
	f.created++
	ev := epc.Event{ID: "ev-" + e.Type, Type: e.Type, Text: e.Text, Comments: e.Comments}
	f.events = append(f.events, ev)
	if ft != nil {
		return nil, ft.err
	}
	return &ev, nil
}
func (f *fakeEPC) CreateResources(_ context.Context, _ string, rs []epc.NewResource) ([]epc.Resource, error) {
	f.slots++
	return []epc.Resource{{ID: fmt.Sprintf("res-%d", f.slots), Name: rs[0].Name, MimeType: rs[0].MimeType, Location: "http://x/up", Authorization: "elli-signature abc"}}, nil
}
func (f *fakeEPC) UploadBytes(_ context.Context, slot epc.Resource, body io.Reader, _ int64) error {
	f.uploads++
	_, err := io.Copy(io.Discard, body)
	if len(f.uploadFaults) > 0 {
		err, f.uploadFaults = f.uploadFaults[0], f.uploadFaults[1:]
	}
	if err == nil {
		if f.filled == nil {
			f.filled = map[string]int{}
		}
		f.filled[slot.ID]++
	}
	return err
}

func newActs(t *testing.T, f *fakeEPC) *Transaction {
	st, err := blobs.NewStore(t.TempDir())
	require.NoError(t, err)
	return &Transaction{EPC: f, Accounts: accounts.Demo(), Blobs: st, Schemas: schemas.Default(), Partner: epc.Party{Name: "Partner"}, WriteBackoff: time.Millisecond}
}

func pendingTx(reqType string) epc.Transaction {
	return epc.Transaction{ID: "tx-1", Status: epc.TransactionPending, ClientID: "3010000024", Product: &epc.Product{Name: "p"},
		Request: &epc.Request{Type: reqType, Loan: []byte(`{"loanNumber":"LN1","property":{"streetAddress":"1 Main St","city":"Pleasanton","state":"CA","postalCode":"94588"}}`),
			Credentials: &epc.Credentials{Username: "demo", Password: "demo-password-1"}}}
}

func TestGatherDataChecksCredentialsWithoutReturningThem(t *testing.T) {
	tests := []struct {
		name      string
		creds     *epc.Credentials
		wantValid bool
	}{
		{"valid", &epc.Credentials{Username: "demo", Password: "demo-password-1"}, true},
		{"wrong password", &epc.Credentials{Username: "demo", Password: "p@s$w0rd"}, false},
		{"missing", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEPC{tx: pendingTx("Appraisal")}
			f.tx.Request.Credentials = tt.creds
			o, err := newActs(t, f).GatherData(context.Background(), "tx-1")
			require.NoError(t, err)
			require.Equal(t, tt.wantValid, o.CredentialsValid)
			require.Equal(t, "LN1", o.LoanNumber)
			require.Equal(t, "1 Main St", o.Property.StreetAddress)
			require.Equal(t, []epc.Resource{{ID: "att-1", Name: "contract.pdf", MimeType: "application/pdf"}}, o.Attachments)
			require.NotContains(t, o.CredentialsProblem, "p@s$w0rd")
		})
	}
}

// TestRequestDigestTellsAnUpdate: the digest read with the order and with every re-read of the
// transaction changes when the lender updates the request, not when the credentials change.
func TestRequestDigestTellsAnUpdate(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("Appraisal")}
	a := newActs(t, f)
	o, err := a.GatherData(context.Background(), "tx-1")
	require.NoError(t, err)
	require.Len(t, o.RequestDigest, 64)
	snap, err := a.InspectTransaction(context.Background(), "tx-1")
	require.NoError(t, err)
	require.Equal(t, o.RequestDigest, snap.RequestDigest)

	f.tx.Request.Credentials = &epc.Credentials{Username: "other", Password: "other-password"}
	snap, err = a.InspectTransaction(context.Background(), "tx-1")
	require.NoError(t, err)
	require.Equal(t, o.RequestDigest, snap.RequestDigest, "credentials are not part of the digest")

	f.tx.Request.Loan = json.RawMessage(`{"loanNumber":"LN1","property":{"streetAddress":"2 Main St"}}`)
	snap, err = a.InspectTransaction(context.Background(), "tx-1")
	require.NoError(t, err)
	require.NotEqual(t, o.RequestDigest, snap.RequestDigest)
}

type leakyStore struct{}

func (leakyStore) Verify(_ context.Context, u, p string) error {
	return errors.New("backend refused login " + u + "/" + p)
}

func TestGatherDataDoesNotPassStoreErrorsOn(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("Appraisal")}
	a := newActs(t, f)
	a.Accounts = leakyStore{}
	_, err := a.GatherData(context.Background(), "tx-1")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "demo-password-1")
}

func TestPatchResponseLeavesClosedTransactionAlone(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("Appraisal")}
	f.tx.Status = epc.TransactionCompleted
	f.tx.Response = &epc.Response{Status: epc.StatusCanceled}
	out, err := newActs(t, f).PatchResponse(context.Background(), PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusCompleted}})
	require.NoError(t, err)
	require.False(t, out.Applied)
	require.Equal(t, epc.StatusCanceled, out.Info.ResponseStatus)
	require.Empty(t, f.patches)
}

func TestPatchResponseAddsRespondingParty(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("Appraisal")}
	out, err := newActs(t, f).PatchResponse(context.Background(), PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusCompleted}, WithRespondingParty: true})
	require.NoError(t, err)
	require.True(t, out.Applied)
	require.True(t, out.Info.Closed())
	require.Equal(t, "Partner", f.patches[0].RespondingParty.Name)
}

func TestEPCErrorsMapToRetryPolicy(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		wantRetryable bool
		wantType      string
	}{
		{"400 is final", &epc.APIError{Status: 400, Message: "bad"}, false, ErrTypeRejected},
		{"403 is final", &epc.APIError{Status: 403, Message: "not entitled"}, false, ErrTypeRejected},
		{"429 retried", &epc.APIError{Status: 429, Retryable: true}, true, ErrTypeUnavailable},
		{"503 retried", &epc.APIError{Status: 503, Retryable: true}, true, ErrTypeUnavailable},
		// A stopped attempt is not the platform's answer: the order must not fail for it.
		{"canceled attempt retried", &epc.APIError{Err: context.Canceled}, true, ErrTypeUnavailable},
		{"deadline retried", fmt.Errorf("wrapped: %w", &epc.APIError{Err: context.DeadlineExceeded}), true, ErrTypeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEPC{tx: pendingTx("Appraisal"), getErr: tt.err}
			_, err := newActs(t, f).PatchResponse(context.Background(), PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusProcessing}})
			var app *temporal.ApplicationError
			require.ErrorAs(t, err, &app)
			require.Equal(t, tt.wantType, app.Type())
			require.Equal(t, tt.wantRetryable, !app.NonRetryable())
		})
	}
}

func TestPostEventIsIdempotent(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("Appraisal")}
	a := newActs(t, f)
	in := PostEventInput{TransactionID: "tx-1", Type: "urn:elli:epc:partner:appraisal:scheduled", Text: "Inspection Scheduled", Comments: "Monday"}
	e1, err := a.PostEvent(context.Background(), in)
	require.NoError(t, err)
	e2, err := a.PostEvent(context.Background(), in) // a retried attempt
	require.NoError(t, err)
	require.Equal(t, e1.ID, e2.ID)
	require.Equal(t, 1, f.created)
}

func TestSendServiceEventsValidatesAndIsIdempotent(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("FloodCertification")}
	a := newActs(t, f)
	in := ServiceEventsInput{TransactionID: "tx-1", Events: []epc.ServiceEvent{{Code: "FLOOD-DETERMINED", Title: "Zone X"}}}
	for range 2 {
		out, err := a.SendServiceEvents(context.Background(), in)
		require.NoError(t, err)
		require.True(t, out.Applied)
	}
	require.Len(t, f.patches, 1, "the second attempt found its events already sent")

	_, err := a.SendServiceEvents(context.Background(), ServiceEventsInput{TransactionID: "tx-1", Events: []epc.ServiceEvent{{Code: "  ", Title: "x"}}})
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.True(t, app.NonRetryable())
	require.Contains(t, err.Error(), "/serviceEvents/0/code")
}

func TestAwaitServiceOutcomeReadsProcessedEvent(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("FloodCertification"), events: []epc.Event{
		{ID: "e1", Type: epc.EventResponseUpdated},
		{ID: "e2", Type: epc.EventResponseProcessed, Details: []byte(`{"action":"create_service_events","status":"Success","serviceEvents":[{"success":[{"code":"EVENT-001","lenderEntities":[{"id":"t1","type":"task"}]}]},{"skipped":[{"code":"EVENT-002"}]}],"transactionId":"tx-1"}`)},
	}}
	out, err := newActs(t, f).AwaitServiceOutcome(context.Background(), "tx-1")
	require.NoError(t, err)
	require.Equal(t, "e2", out.EventID)
	require.Equal(t, "EVENT-001", out.Success[0].Code)
	require.Equal(t, "EVENT-002", out.Skipped[0].Code)
}

func TestUploadFileIsIdempotent(t *testing.T) {
	f := &fakeEPC{tx: pendingTx("FloodCertification")}
	a := newActs(t, f)
	pdf := RenderPDF([]string{"hello"})
	sha, err := a.Blobs.PutBytes(context.Background(), pdf)
	require.NoError(t, err)
	in := UploadInput{TransactionID: "tx-1", File: blobs.File{SHA256: sha, Size: int64(len(pdf)), Name: "FloodCertificate.pdf", MimeType: "application/pdf"}}
	r1, err := a.UploadFile(context.Background(), in)
	require.NoError(t, err)
	r2, err := a.UploadFile(context.Background(), in) // a retried attempt after the first succeeded
	require.NoError(t, err)
	require.Equal(t, r1, r2)
	require.Equal(t, 1, f.uploads)
	require.Equal(t, 1, f.slots)
	require.Equal(t, []epc.Resource{{ID: "res-1", Name: "FloodCertificate.pdf", MimeType: "application/pdf"}}, f.tx.Response.Resources)
	requireKept(t, a.Blobs, sha)
}

// requireKept: the workflow references the file, so the store's sweeper must never remove it.
func requireKept(t *testing.T, s blobs.Store, sha string) {
	t.Helper()
	r, err := blobs.Sweep(context.Background(), s, 0, time.Now().Add(365*24*time.Hour))
	require.NoError(t, err)
	require.Zero(t, r.Removed, "a year later, the sweeper removes the file the workflow references")
	_, err = s.Stat(context.Background(), sha)
	require.NoError(t, err)
}

// TestFloodCertificateIsKept: the certificate a workflow will reference is marked kept as it
// is stored.
func TestFloodCertificateIsKept(t *testing.T) {
	a := newActs(t, &fakeEPC{})
	f, err := a.GenerateFloodCertificate(context.Background(), CertificateInput{TransactionID: "tx-1"})
	require.NoError(t, err)
	requireKept(t, a.Blobs, f.SHA256)
}

func TestFloodDeterminationIsStable(t *testing.T) {
	a := newActs(t, &fakeEPC{})
	in := FloodInput{TransactionID: "tx-1", Property: Property{StreetAddress: "1 Main St", City: "Pleasanton", State: "CA", PostalCode: "94588"}}
	d1, err := a.DetermineFlood(context.Background(), in)
	require.NoError(t, err)
	d2, _ := a.DetermineFlood(context.Background(), in)
	require.Equal(t, d1, d2)
	require.Equal(t, strings.HasPrefix(d1.Zone, "A") || strings.HasPrefix(d1.Zone, "V"), d1.SpecialFloodHazard)
	_, err = a.DetermineFlood(context.Background(), FloodInput{TransactionID: "tx-1"})
	require.Error(t, err)
}

func TestRenderPDFIsAValidDeterministicPDF(t *testing.T) {
	p1 := RenderPDF([]string{"Title (with parens)", "line"})
	p2 := RenderPDF([]string{"Title (with parens)", "line"})
	require.Equal(t, p1, p2)
	require.True(t, strings.HasPrefix(string(p1), "%PDF-1.4"))
	require.Contains(t, string(p1), `\(with parens\)`)
	require.True(t, strings.HasSuffix(string(p1), "%%EOF\n"))
}

// TestWritesSurviveLostReplies: a write whose reply is lost is not made again when the
// platform did act, and is made again when it did not, all within one attempt.
func TestWritesSurviveLostReplies(t *testing.T) {
	ctx := context.Background()
	t.Run("processing PATCH applied, reply lost", func(t *testing.T) {
		f := &fakeEPC{tx: pendingTx("Appraisal"), patchFaults: []fault{{applied: true, err: lostReply}}}
		out, err := newActs(t, f).PatchResponse(ctx, PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusProcessing, PartnerStatus: "Order Accepted"}})
		require.NoError(t, err)
		require.True(t, out.Applied)
		require.Len(t, f.patches, 1, "the second try found the response already processing")
	})
	t.Run("PATCH failed before the platform acted", func(t *testing.T) {
		f := &fakeEPC{tx: pendingTx("Appraisal"), patchFaults: []fault{{err: lostReply}, {err: &epc.APIError{Status: 429, Retryable: true}}}}
		out, err := newActs(t, f).PatchResponse(ctx, PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusProcessing}})
		require.NoError(t, err)
		require.True(t, out.Applied)
		require.Len(t, f.patches, 1)
	})
	t.Run("completed PATCH applied, reply lost: ours, not closed by others", func(t *testing.T) {
		f := &fakeEPC{tx: pendingTx("Appraisal"), patchFaults: []fault{{applied: true, err: lostReply}}}
		out, err := newActs(t, f).PatchResponse(ctx, PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusCompleted}, WithRespondingParty: true})
		require.NoError(t, err)
		require.True(t, out.Applied, "the closed transaction holds our completion")
		require.True(t, out.Info.Closed())
		require.Len(t, f.patches, 1)
	})
	t.Run("a later attempt after success writes nothing", func(t *testing.T) {
		f := &fakeEPC{tx: pendingTx("Appraisal")}
		a := newActs(t, f)
		in := PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusProcessing, PartnerStatus: "Order Accepted"}}
		for range 2 {
			out, err := a.PatchResponse(ctx, in)
			require.NoError(t, err)
			require.True(t, out.Applied)
		}
		require.Len(t, f.patches, 1)
	})
	t.Run("every try fails: the attempt fails, retryable", func(t *testing.T) {
		f := &fakeEPC{tx: pendingTx("Appraisal"), patchFaults: []fault{{err: lostReply}, {err: lostReply}, {err: lostReply}}}
		_, err := newActs(t, f).PatchResponse(ctx, PatchInput{TransactionID: "tx-1", Patch: epc.Response{Status: epc.StatusProcessing}})
		var app *temporal.ApplicationError
		require.ErrorAs(t, err, &app)
		require.False(t, app.NonRetryable())
		require.Empty(t, f.patches)
	})
	t.Run("event stored, reply lost: found, not posted again", func(t *testing.T) {
		f := &fakeEPC{tx: pendingTx("Appraisal"), eventFaults: []fault{{err: lostReply}, {applied: true, err: lostReply}}}
		e, err := newActs(t, f).PostEvent(ctx, PostEventInput{TransactionID: "tx-1", Type: "urn:elli:epc:partner:appraisal:scheduled", Text: "Inspection Scheduled"})
		require.NoError(t, err)
		require.Equal(t, "ev-urn:elli:epc:partner:appraisal:scheduled", e.ID)
		require.Equal(t, 1, f.created)
	})
	t.Run("upload: PUT and attach retried on the same slot", func(t *testing.T) {
		f := &fakeEPC{tx: pendingTx("FloodCertification"),
			uploadFaults: []error{lostReply, nil},
			patchFaults:  []fault{{applied: true, err: lostReply}}}
		a := newActs(t, f)
		pdf := RenderPDF([]string{"hello"})
		sha, err := a.Blobs.PutBytes(ctx, pdf)
		require.NoError(t, err)
		_, err = a.UploadFile(ctx, UploadInput{TransactionID: "tx-1", File: blobs.File{SHA256: sha, Size: int64(len(pdf)), Name: "FloodCertificate.pdf", MimeType: "application/pdf"}})
		require.NoError(t, err)
		require.Equal(t, 1, f.slots, "one slot: the retries used it")
		require.Equal(t, 2, f.uploads, "the failed PUT and the one that worked")
		require.Len(t, f.patches, 1, "the attach PATCH whose reply was lost is not sent again")
	})
}

func TestResponseHolds(t *testing.T) {
	party := &epc.Party{Name: "P", City: "X"}
	cur := &epc.Response{Status: "processing", PartnerStatus: "Scheduled", RespondingParty: party,
		Loan:      []byte(`{"a":1,"b":{"c":"d","e":[1,2]}}`),
		Resources: []epc.Resource{{ID: "r1", Name: "a.pdf", MimeType: "application/pdf"}}}
	tests := []struct {
		name  string
		patch epc.Response
		want  bool
	}{
		{"empty patch", epc.Response{}, true},
		{"same status", epc.Response{Status: "processing"}, true},
		{"other status", epc.Response{Status: "completed"}, false},
		{"status and partnerStatus", epc.Response{Status: "processing", PartnerStatus: "Scheduled"}, true},
		{"loan subset", epc.Response{Loan: []byte(`{"b":{"c":"d"}}`)}, true},
		{"loan other value", epc.Response{Loan: []byte(`{"a":2}`)}, false},
		{"loan array differs", epc.Response{Loan: []byte(`{"b":{"e":[1]}}`)}, false},
		{"loan null member absent", epc.Response{Loan: []byte(`{"z":null}`)}, true},
		{"loan null member present", epc.Response{Loan: []byte(`{"a":null}`)}, false},
		{"resources same", epc.Response{Resources: []epc.Resource{{ID: "r1", Name: "a.pdf", MimeType: "application/pdf"}}}, true},
		{"resources one more", epc.Response{Resources: []epc.Resource{{ID: "r1", Name: "a.pdf", MimeType: "application/pdf"}, {ID: "r2", Name: "b.pdf", MimeType: "application/pdf"}}}, false},
		{"party", epc.Response{RespondingParty: &epc.Party{Name: "P", City: "X"}}, true},
		{"party differs", epc.Response{RespondingParty: &epc.Party{Name: "Q"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, responseHolds(cur, &tt.patch))
		})
	}
	require.False(t, responseHolds(nil, &epc.Response{Status: "processing"}))
	require.True(t, responseHolds(nil, &epc.Response{}))
}

// TestUploadFillsTheSlotOfAnEarlierAttempt: an attempt that failed after asking for a slot
// (its PUT may have stored the bytes with the reply lost) leaves the slot noted; the next
// attempt fills that slot and attaches it instead of asking for another.
func TestUploadFillsTheSlotOfAnEarlierAttempt(t *testing.T) {
	ctx := context.Background()
	every := make([]error, uploadTries)
	for i := range every {
		every[i] = lostReply
	}
	f := &fakeEPC{tx: pendingTx("FloodCertification"), uploadFaults: every}
	a := newActs(t, f)
	pdf := RenderPDF([]string{"hello"})
	sha, err := a.Blobs.PutBytes(ctx, pdf)
	require.NoError(t, err)
	in := UploadInput{TransactionID: "tx-1", File: blobs.File{SHA256: sha, Size: int64(len(pdf)), Name: "FloodCertificate.pdf", MimeType: "application/pdf"}}

	_, err = a.UploadFile(ctx, in)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.False(t, app.NonRetryable(), "the attempt fails, retryable")
	require.NotContains(t, err.Error(), "elli-signature", "the slot's grant is never in an error")

	res, err := a.UploadFile(ctx, in) // the next attempt
	require.NoError(t, err)
	require.Equal(t, "res-1", res.ID)
	require.Equal(t, 1, f.slots, "the earlier attempt's slot was filled, no new one asked for")
	require.Equal(t, uploadTries+1, f.uploads)
	require.Len(t, f.patches, 1)
	_, err = a.Blobs.Note(ctx, slotNoteKey("tx-1", in.File))
	require.ErrorIs(t, err, blobs.ErrNotFound, "the note is gone once the file is attached")
}

// TestUploadForgetsARefusedSlot: a noted slot the platform refuses (an expired grant) is
// forgotten, and the next attempt asks for a new one.
func TestUploadForgetsARefusedSlot(t *testing.T) {
	ctx := context.Background()
	f := &fakeEPC{tx: pendingTx("FloodCertification")}
	a := newActs(t, f)
	pdf := RenderPDF([]string{"hello"})
	sha, err := a.Blobs.PutBytes(ctx, pdf)
	require.NoError(t, err)
	file := blobs.File{SHA256: sha, Size: int64(len(pdf)), Name: "FloodCertificate.pdf", MimeType: "application/pdf"}
	key := slotNoteKey("tx-1", file)
	require.NoError(t, a.noteSlot(ctx, key, file, epc.Resource{ID: "res-old", Name: file.Name, MimeType: file.MimeType, Location: "http://x/old", Authorization: "elli-signature old"}))
	f.uploadFaults = []error{&epc.APIError{Status: 401, Message: "grant expired"}}

	_, err = a.UploadFile(ctx, UploadInput{TransactionID: "tx-1", File: file})
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.False(t, app.NonRetryable())
	require.Zero(t, f.slots)

	res, err := a.UploadFile(ctx, UploadInput{TransactionID: "tx-1", File: file})
	require.NoError(t, err)
	require.Equal(t, "res-1", res.ID)
	require.Equal(t, 1, f.slots)
}
