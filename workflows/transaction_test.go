package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

// The order and report of every test here, as the validators' tests know them.
var (
	txID   = workflows.TestTxID
	pdfRef = workflows.TestPDFRef
)

// platform is a fake EPC behind the mocked activities: it records what the workflow asked for.
type platform struct {
	mu          sync.Mutex
	order       activities.OrderData // the order as the platform holds it (the lender may update it)
	patches     []epc.Response
	closed      bool
	events      []activities.PostEventInput
	uploads     []activities.UploadInput
	serviceSent []activities.ServiceEventsInput
	inspects    int
	canceled    string // canceled event id reported by InspectTransaction
	uploadErr   error
	released    int
	reads       []activities.EventRef // ReadEvent calls
	// intakeFails fails this many tries of AcknowledgeAndGather with an error that may pass.
	intakeFails, intakeTries int
}

// update is the lender's update of the request (setOrder changes it as the lender would).
func (p *platform) update(setOrder func(o *activities.OrderData)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	setOrder(&p.order)
}

// cancel is the lender's cancellation, as the next read of the transaction shows it.
func (p *platform) cancel(eventID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.canceled = eventID
}

// canceledNow is the lender's cancellation as a read shows it ("" when none).
func (p *platform) canceledNow() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.canceled
}

func (p *platform) info() activities.TxInfo {
	info := p.order.TxInfo
	// Stands for the digest of the request: it changes when the lender updates it.
	info.RequestDigest = fmt.Sprintf("%+v", p.order.Property)
	if p.closed {
		info.TransactionStatus = epc.TransactionCompleted
	}
	if n := len(p.patches); n > 0 {
		for i := n - 1; i >= 0; i-- {
			if p.patches[i].Status != "" {
				info.ResponseStatus, info.ResponseReference = p.patches[i].Status, p.patches[i].ReferenceNumber
				break
			}
		}
	}
	return info
}

type fixture struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	p   *platform
	// floodTakes makes the flood determination take this long (simulated time); outcomeTakes
	// the platform's processing of service events; inspectTakes a read of the transaction.
	floodTakes, outcomeTakes, inspectTakes time.Duration
	// instanceID is the first webhook's meta.instanceId, as the workflow is started with.
	instanceID string
	// engine is the registered workflow's configuration (nil: the default).
	engine *workflows.Engine
}

func newFixture(t *testing.T, requestType string, opts ...func(*fixture)) *fixture {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	p := &platform{order: activities.OrderData{
		TxInfo: activities.TxInfo{
			TransactionID: txID, ClientID: "3010000024", Product: "sandbox-product", RequestType: requestType,
			LoanNumber: "1911EM000412515", TransactionStatus: epc.TransactionPending,
		},
		Property:         activities.Property{StreetAddress: "4430 Rosewood Dr", City: "Pleasanton", State: "CA", PostalCode: "94588", County: "Alameda"},
		CredentialsValid: true,
	}}
	f := &fixture{t: t, env: env, p: p, instanceID: "BE11172718"}
	for _, o := range opts {
		o(f)
	}
	worker.Register(env, worker.Deps{Engine: f.engine})
	f.mockActivities()
	return f
}

func (f *fixture) mockActivities() {
	p, env := f.p, f.env
	patch := func(_ context.Context, in activities.PatchInput) (activities.PatchOutcome, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		info := p.info()
		info.CanceledEventID = p.canceled // every read tells the cancellation
		if p.closed || (in.UnlessCanceled && p.canceled != "") {
			return activities.PatchOutcome{Info: info}, nil
		}
		p.patches = append(p.patches, in.Patch)
		if epc.IsClosingStatus(in.Patch.Status) {
			p.closed = true
		}
		return activities.PatchOutcome{Applied: true, Info: p.info()}, nil
	}
	gather := func(_ context.Context, id string) (activities.OrderData, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		o := p.order
		o.TxInfo = p.info()
		o.CanceledEventID = p.canceled
		return o, nil
	}
	env.OnActivity(workflows.ActivityPatchResponse, mock.Anything, mock.Anything).Return(patch)
	env.OnActivity(workflows.ActivityGatherData, mock.Anything, mock.Anything).Return(gather)
	// The lean order's steps, made of the same (activities/transaction_steps.go).
	env.OnActivity(workflows.ActivityAcknowledgeAndGather, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.PatchInput) (activities.IntakeOutcome, error) {
		p.mu.Lock()
		p.intakeTries++
		fail := p.intakeTries <= p.intakeFails
		p.mu.Unlock()
		if fail {
			return activities.IntakeOutcome{}, temporal.NewApplicationError("EPC unavailable", "EPCUnavailable")
		}
		ack, _ := patch(ctx, in)
		out := activities.IntakeOutcome{Ack: ack}
		if ack.Applied && ack.Info.CanceledEventID == "" {
			o, _ := gather(ctx, in.TransactionID)
			out.Order = &o
		}
		return out, nil
	})
	env.OnActivity(workflows.ActivityInspectTransaction, mock.Anything, mock.Anything).After(f.inspectTakes).Return(func(_ context.Context, id string) (activities.TxSnapshot, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.inspects++
		snap := activities.TxSnapshot{TxInfo: p.info()}
		snap.TxInfo.CanceledEventID = p.canceled
		return snap, nil
	})
	env.OnActivity(workflows.ActivityReadEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, ref activities.EventRef) (activities.EventInfo, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.reads = append(p.reads, ref)
		return activities.EventInfo{ID: ref.EventID, Type: "urn:elli:epc:transaction:message", Text: "Lender message"}, nil
	})
	env.OnActivity(workflows.ActivityPostEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PostEventInput) (activities.EventInfo, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.events = append(p.events, in)
		return activities.EventInfo{ID: "ev-" + in.Type, Type: in.Type, Text: in.Text, Comments: in.Comments}, nil
	})
	env.OnActivity(workflows.ActivityReleaseInspection, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ReleaseInput) (activities.EventInfo, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.released++
		return activities.EventInfo{ID: "ev-released", Type: "urn:elli:epc:partner:appraisal:released"}, nil
	})
	send := func(_ context.Context, in activities.ServiceEventsInput) (activities.PatchOutcome, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.serviceSent = append(p.serviceSent, in)
		return activities.PatchOutcome{Applied: !p.closed, Info: p.info()}, nil
	}
	outcome := activities.ServiceOutcome{EventID: "ev-processed", Status: "Success", Success: []epc.ProcessedServiceEvent{{Code: "X"}}}
	upload := func(_ context.Context, in activities.UploadInput) (epc.Resource, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.uploadErr != nil {
			return epc.Resource{}, p.uploadErr
		}
		p.uploads = append(p.uploads, in)
		return epc.Resource{ID: "res-" + in.File.Name, Name: in.File.Name, MimeType: in.File.MimeType}, nil
	}
	env.OnActivity(workflows.ActivitySendServiceEvents, mock.Anything, mock.Anything).Return(send)
	env.OnActivity(workflows.ActivityAwaitServiceOutcome, mock.Anything, mock.Anything).After(f.outcomeTakes).Return(func(_ context.Context, id string) (activities.ServiceOutcome, error) {
		return outcome, nil
	})
	env.OnActivity(workflows.ActivityUploadFile, mock.Anything, mock.Anything).Return(upload)
	env.OnActivity(workflows.ActivitySendAndAwaitOutcome, mock.Anything, mock.Anything).After(f.outcomeTakes).Return(func(ctx context.Context, in activities.ServiceEventsInput) (activities.ServiceEventsResult, error) {
		if c := p.canceledNow(); c != "" {
			return activities.ServiceEventsResult{Sent: activities.PatchOutcome{Info: activities.TxInfo{CanceledEventID: c}}}, nil
		}
		sent, _ := send(ctx, in)
		res := activities.ServiceEventsResult{Sent: sent}
		if sent.Applied {
			res.Outcome = &outcome
		}
		return res, nil
	})
	env.OnActivity(workflows.ActivityUploadAndComplete, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.CompleteInput) (activities.CompleteOutcome, error) {
		var out activities.CompleteOutcome
		if c := p.canceledNow(); c != "" {
			out.Complete.Info.CanceledEventID = c
			return out, nil
		}
		for _, f := range in.Files {
			r, err := upload(ctx, activities.UploadInput{TransactionID: in.TransactionID, File: f})
			if err != nil {
				return out, err
			}
			out.Resources = append(out.Resources, r)
		}
		in.Patch.Resources = out.Resources
		var err error
		out.Complete, err = patch(ctx, activities.PatchInput{TransactionID: in.TransactionID, Patch: in.Patch, WithRespondingParty: in.WithRespondingParty, UnlessCanceled: in.UnlessCanceled})
		return out, err
	})
	env.OnActivity(workflows.ActivityDetermineFlood, mock.Anything, mock.Anything).After(f.floodTakes).Return(func(_ context.Context, in activities.FloodInput) (activities.FloodDetermination, error) {
		return activities.FloodDetermination{DeterminationID: "FD-1", Zone: "AE", SpecialFloodHazard: true, InsuranceRequired: true}, nil
	})
	env.OnActivity(workflows.ActivityGenerateFloodCertificate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CertificateInput) (blobs.File, error) {
		return blobs.File{SHA256: strings.Repeat("cd", 32), Size: 900, Name: activities.FloodCertificateName, MimeType: "application/pdf"}, nil
	})
}

func (f *fixture) run() workflows.TransactionResult {
	f.t.Helper()
	f.env.ExecuteWorkflow(workflows.TransactionWorkflowName, workflows.TransactionInput{TransactionID: txID, InstanceID: f.instanceID})
	require.True(f.t, f.env.IsWorkflowCompleted(), "workflow did not complete")
	require.NoError(f.t, f.env.GetWorkflowError())
	var res workflows.TransactionResult
	require.NoError(f.t, f.env.GetWorkflowResult(&res))
	return res
}

// at schedules fn at a simulated time after the start.
func (f *fixture) at(d time.Duration, fn func()) { f.env.RegisterDelayedCallback(fn, d) }

func (f *fixture) signal(sig workflows.WebhookSignal) {
	if sig.TransactionID == "" {
		sig.TransactionID = txID
	}
	f.env.SignalWorkflow(workflows.SignalWebhook, sig)
}

type updateResult struct {
	rejected error
	err      error
	result   workflows.ActionResult
}

func (f *fixture) update(name string, arg any) *updateResult {
	r := &updateResult{}
	f.env.UpdateWorkflow(name, name+"-"+time.Now().Format("150405.000000000"), &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { r.rejected = err },
		OnComplete: func(v interface{}, err error) {
			r.err = err
			if v != nil {
				r.result = v.(workflows.ActionResult)
			}
		},
	}, arg)
	return r
}

func (f *fixture) statuses() []string {
	var out []string
	for _, p := range f.p.patches {
		out = append(out, p.Status)
	}
	return out
}

func (f *fixture) status() workflows.Status {
	v, err := f.env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(f.t, err)
	var st workflows.Status
	require.NoError(f.t, v.Get(&st))
	return st
}

func TestFloodCertificationHappyPath(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	res := f.run()

	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, []string{"processing", "completed"}, f.statuses())
	ack := f.p.patches[0]
	require.Equal(t, workflows.ReferenceNumber(txID), ack.ReferenceNumber)
	done := f.p.patches[1]
	require.Equal(t, "Flood Certificate Delivered", done.PartnerStatus)
	require.Equal(t, epc.LoanFormatPLM, done.LoanFormat)
	require.JSONEq(t, `{"property":{"floodZoneIdentifier":"AE","specialFloodHazardAreaIndicator":true,"nfipCommunityIdentifier":"","nfipMapPanelIdentifier":"","floodCertificationIdentifier":"FD-1","floodInsuranceRequiredIndicator":true}}`, string(done.Loan))
	require.Equal(t, []epc.Resource{{ID: "res-FloodCertificate.pdf", Name: "FloodCertificate.pdf", MimeType: "application/pdf"}}, done.Resources)
	require.Len(t, f.p.uploads, 1)
	require.Len(t, f.p.serviceSent, 1)
	require.Equal(t, "FLOOD-DETERMINED", f.p.serviceSent[0].Events[0].Code)
	st := f.status()
	require.Equal(t, workflows.StageCompleted, st.Stage)
	require.True(t, st.Closed)
	require.Equal(t, "AE", st.Flood.Zone)
}

func TestAppraisalHappyPath(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	when := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	var early, sched, deliverNoPDF, deliver *updateResult
	f.at(time.Second, func() {
		// Delivering before scheduling is refused.
		early = f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 500000})
	})
	f.at(time.Hour, func() {
		require.Equal(t, workflows.StageAwaitSchedule, f.status().Stage)
		sched = f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: when, Appraiser: "Scott Cooper"})
	})
	f.at(2*time.Hour, func() {
		require.Equal(t, workflows.StageAwaitReport, f.status().Stage)
		deliverNoPDF = f.update(workflows.UpdateDeliver, workflows.DeliverInput{AppraisedValue: 500000})
		deliver = f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 500000, CompletedAt: time.Date(2020, 4, 24, 19, 0, 4, 0, time.UTC)})
	})
	res := f.run()

	require.ErrorContains(t, early.rejected, "schedule the inspection before delivering")
	require.NoError(t, sched.rejected)
	require.Contains(t, sched.result.Message, "inspection scheduled")
	require.ErrorContains(t, deliverNoPDF.rejected, "a PDF is required")
	require.NoError(t, deliver.rejected)
	require.NoError(t, deliver.err)

	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Len(t, f.p.events, 1)
	require.Equal(t, vocab.Default().Get(vocab.EventAppraisalScheduled), f.p.events[0].Type)
	require.Contains(t, f.p.events[0].Comments, "12/01/2026 at 16:00 UTC")
	last := f.p.patches[len(f.p.patches)-1]
	require.Equal(t, epc.StatusCompleted, last.Status)
	require.Equal(t, "Appraisal Report Delivered", last.PartnerStatus)
	require.JSONEq(t, `{"propertyAppraisedValueAmount":"500000","underwriterSummary":{"appraisalType":"Form 1004 appraisal with interior/exterior","appraisalCompletedDate":"2020-04-24T19:00:04Z"}}`, string(last.Loan))
	require.Equal(t, workflows.AppraisalReportName, f.p.uploads[0].File.Name)
	require.Equal(t, pdfRef.SHA256, f.p.uploads[0].File.SHA256)

}

func TestInputRequiredThenResume(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	complete := f.p.order.Property
	f.p.order.Property.StreetAddress = ""
	f.p.order.Property.PostalCode = ""
	f.at(time.Hour, func() {
		st := f.status()
		require.Equal(t, workflows.StageInputRequired, st.Stage)
		require.Len(t, st.MissingInput, 2)
		f.p.update(func(o *activities.OrderData) { o.Property = complete })
		f.signal(workflows.WebhookSignal{EventID: "upd-1", EventType: epc.WebhookUpdated, ResourceType: epc.ResourceTransaction, ResourceID: txID})
	})
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, []string{"processing", "inputRequired", "processing", "completed"}, f.statuses())
	ir := f.p.patches[1]
	require.Equal(t, []string{"loan.property.streetAddress", "loan.property.postalCode"}, []string{ir.Errors[0].FieldID, ir.Errors[1].FieldID})
	require.Equal(t, vocab.Default().Get(vocab.ErrorMissingInput), ir.Errors[0].Code)
}

func TestInputRequiredDeadline(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	f.p.order.Property.City = ""
	res := f.run()
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	require.Equal(t, []string{"processing", "inputRequired", "failed"}, f.statuses())
	require.Equal(t, vocab.Default().Get(vocab.ErrorInputTimeout), res.Errors[0].Code)
	require.Equal(t, "loan.property.city", res.Errors[0].FieldID)
}

func TestInvalidCredentialsFails(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	f.p.order.CredentialsValid = false
	f.p.order.CredentialsProblem = "the username and password do not match a partner account"
	res := f.run()
	require.Equal(t, []string{"processing", "failed"}, f.statuses())
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	require.Equal(t, epc.ErrorInvalidCredentials, f.p.patches[1].Errors[0].Code)
	require.Equal(t, "partner", f.p.patches[1].Errors[0].Type)
}

func TestUnknownRequestTypeFails(t *testing.T) {
	f := newFixture(t, "CreditReport")
	res := f.run()
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	e := f.p.patches[len(f.p.patches)-1].Errors[0]
	require.Equal(t, vocab.Default().Get(vocab.ErrorUnsupportedRequestType), e.Code)
	require.Equal(t, "request.type", e.FieldID)
	require.Contains(t, e.Description, `"CreditReport"`)
	require.Contains(t, e.Description, "Appraisal, FloodCertification")
}

func TestPermanentFailureRecordsFailed(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	f.p.uploadErr = temporal.NewNonRetryableApplicationError("create resource: 400 Bad Request: mimeType not allowed", activities.ErrTypeRejected, nil)
	res := f.run()
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	last := f.p.patches[len(f.p.patches)-1]
	require.Equal(t, epc.StatusFailed, last.Status)
	require.Equal(t, vocab.Default().Get(vocab.ErrorProcessingFailed), last.Errors[0].Code)
	require.Contains(t, last.Errors[0].Description, "mimeType not allowed")
	require.Equal(t, workflows.StageFailed, f.status().Stage)
}

func cancelWebhook(id string) workflows.WebhookSignal {
	return workflows.WebhookSignal{EventID: "wh-" + id, EventType: epc.WebhookCreated, ResourceType: epc.ResourceTransactionEvent, ResourceID: id}
}

func TestCancelDuringEachStep(t *testing.T) {
	tests := []struct {
		name         string
		requestType  string
		cancelAt     time.Duration
		before       func(f *fixture)
		wantReleased int
	}{
		{name: "awaiting schedule", requestType: workflows.TypeAppraisal, cancelAt: time.Hour},
		{name: "awaiting report", requestType: workflows.TypeAppraisal, cancelAt: 3 * time.Hour, before: func(f *fixture) {
			f.at(time.Hour, func() {
				f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
			})
		}, wantReleased: 1},
		{name: "input required", requestType: workflows.TypeFloodCertification, cancelAt: time.Hour, before: func(f *fixture) {
			f.p.order.Property.StreetAddress = ""
		}},
		{name: "flood work", requestType: workflows.TypeFloodCertification, cancelAt: time.Minute, before: func(f *fixture) {
			f.floodTakes = time.Hour // the cancellation lands while the determination runs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.requestType, func(f *fixture) {
				if tt.before != nil {
					tt.before(f)
				}
			})
			f.at(tt.cancelAt, func() {
				f.p.cancel("ev-cancel")
				f.signal(cancelWebhook("ev-cancel"))
			})
			res := f.run()
			require.Equal(t, epc.StatusCanceled, res.ResponseStatus)
			require.Equal(t, epc.StatusCanceled, f.statuses()[len(f.statuses())-1])
			require.Equal(t, tt.wantReleased, f.p.released)
			require.Empty(t, f.p.uploads)
			require.Equal(t, workflows.StageCanceled, f.status().Stage)
		})
	}
}

// TestLeanOrderLearnsOfACancellationFromItsOwnReads: no webhook tells the order (the API does
// not signal a transaction event to an order at work): the reads of its steps do, and it
// stops before it uploads or completes.
func TestLeanOrderLearnsOfACancellationFromItsOwnReads(t *testing.T) {
	tests := []struct {
		name     string
		cancelAt time.Duration
		before   func(f *fixture)
	}{
		{name: "before the acknowledgement"},
		{name: "during the flood determination", cancelAt: time.Minute, before: func(f *fixture) { f.floodTakes = time.Hour }},
		{name: "in the service events step", cancelAt: time.Minute, before: func(f *fixture) { f.outcomeTakes = time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, workflows.TypeFloodCertification, func(f *fixture) {
				if tt.before != nil {
					tt.before(f)
				}
			})
			if tt.cancelAt == 0 {
				f.p.cancel("ev-cancel")
			} else {
				f.at(tt.cancelAt, func() { f.p.cancel("ev-cancel") })
			}
			res := f.run()
			require.Equal(t, epc.StatusCanceled, res.ResponseStatus)
			require.Equal(t, []string{epc.StatusProcessing, epc.StatusCanceled}, f.statuses())
			require.Empty(t, f.p.uploads)
			require.Empty(t, f.p.serviceSent)
			require.Zero(t, f.p.inspects, "no read beyond the steps' own")
			st := f.status()
			require.Equal(t, workflows.StageCanceled, st.Stage)
			require.Equal(t, "ev-cancel", st.Events[len(st.Events)-1].ID)
		})
	}
}

func TestCancelAfterCompletionChangesNothing(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification)
	f.p.canceled = "ev-cancel"
	f.p.closed = true
	f.p.patches = []epc.Response{{Status: epc.StatusCompleted}}
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Len(t, f.p.patches, 1, "nothing patched on a closed transaction")
	require.Equal(t, workflows.StageClosedByOthers, f.status().Stage)
}

func TestDuplicateAndReorderedSignals(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal)
	updated := workflows.WebhookSignal{EventID: "a", EventType: epc.WebhookUpdated, ResourceType: epc.ResourceTransaction, ResourceID: txID}
	created := workflows.WebhookSignal{EventID: "b", EventType: epc.WebhookCreated, ResourceType: epc.ResourceTransaction, ResourceID: txID}
	ev := workflows.WebhookSignal{EventID: "c", EventType: epc.WebhookCreated, ResourceType: epc.ResourceTransactionEvent, ResourceID: "ev-1"}
	noID := workflows.WebhookSignal{EventType: epc.WebhookUpdated, ResourceType: epc.ResourceTransaction, ResourceID: txID, EventTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.at(time.Minute, func() {
		for i := 0; i < 3; i++ {
			f.signal(updated)
			f.signal(created)
			f.signal(ev)
			f.signal(noID)
		}
	})
	f.at(time.Hour, func() {
		st := f.status()
		require.Equal(t, 4, st.WebhooksSeen, "three copies of four webhooks count as four")
		f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
	})
	f.at(2*time.Hour, func() { f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 1}) })
	res := f.run()
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.LessOrEqual(t, f.p.inspects, 3, "webhook reads are coalesced")
	require.Len(t, f.p.events, 1)
}

func TestValidatorsRejectBadActions(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification, func(f *fixture) { f.floodTakes = time.Hour })
	var sched, prog, progEmpty *updateResult
	f.at(time.Minute, func() {
		sched = f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Now()})
		progEmpty = f.update(workflows.UpdateProgress, workflows.ProgressInput{})
		prog = f.update(workflows.UpdateProgress, workflows.ProgressInput{Text: "Determination under review"})
	})
	f.run()
	require.ErrorContains(t, sched.rejected, "this is a FloodCertification order, not an Appraisal")
	require.ErrorContains(t, progEmpty.rejected, "text is required")
	require.NoError(t, prog.rejected)
	require.NoError(t, prog.err)
	require.Equal(t, vocab.Default().Get(vocab.EventProgress), f.p.events[0].Type)
}

func TestWorkflowInputsCarryNoSecrets(t *testing.T) {
	// The workflow's input, signals and activity results are built from these types; none
	// has a field that could hold request.credentials.
	for _, v := range []any{workflows.TransactionInput{}, workflows.Carried{}, workflows.WebhookSignal{}, activities.OrderData{}, activities.TxInfo{}, activities.TxSnapshot{}} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		require.NotContains(t, strings.ToLower(string(b)), "password")
		require.NotContains(t, strings.ToLower(string(b)), "credentials\"")
	}
}
