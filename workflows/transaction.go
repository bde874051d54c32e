package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
)

// Error codes this partner sends in errors[] ([ours] except PARTNER-1001).
const (
	CodeInvalidCredentials = epc.ErrorInvalidCredentials // [doc] "Invalid credentials"
	CodeMissingInput       = "PARTNER-2001"
	CodeUnsupportedType    = "PARTNER-2002"
	CodeInputTimeout       = "PARTNER-2003"
	CodeProcessingFailed   = "PARTNER-5000"
)

// Engine runs EPC transactions. Products maps a request type to the product that fulfils it.
type Engine struct {
	Products map[string]Product
}

// Transaction is the transaction workflow, registered as TransactionWorkflowName.
func (e *Engine) Transaction(ctx workflow.Context, in TransactionInput) (TransactionResult, error) {
	if in.TransactionID == "" {
		return TransactionResult{}, temporal.NewNonRetryableApplicationError("transactionId is required", "InvalidInput", nil)
	}
	s := newTxState(ctx, e, in)
	if err := s.registerHandlers(ctx); err != nil {
		return TransactionResult{}, err
	}
	workCtx, cancelWork := workflow.WithCancel(ctx)
	s.cancelWork = cancelWork
	err := s.work(workCtx)
	s.finish(ctx, err)
	// Let an operator update that is still running (e.g. posting a progress event) finish.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return s.result(), nil
}

// txState is the workflow's memory of one transaction.
type txState struct {
	engine *Engine
	in     TransactionInput
	log    log.Logger
	st     Status

	seen       map[string]bool // webhook dedup keys
	seenOrder  []string
	knownEvent map[string]bool // transaction events already inspected

	requestUpdates  int // lender request updates seen (transaction "updated" webhooks)
	cancelRequested bool
	cancelWork      workflow.CancelFunc

	refreshing, refreshDirty bool

	order    activities.OrderData
	product  Product
	schedule *ScheduleInput
	delivery *DeliverInput
}

// maxSeenWebhooks bounds the dedup memory of a long-lived order.
const maxSeenWebhooks = 2000

func newTxState(ctx workflow.Context, e *Engine, in TransactionInput) *txState {
	s := &txState{
		engine:     e,
		in:         in,
		log:        log.With(workflow.GetLogger(ctx), "transactionId", in.TransactionID),
		seen:       map[string]bool{},
		knownEvent: map[string]bool{},
		st:         Status{TransactionID: in.TransactionID, ClientID: in.InstanceID, Stage: StageReceived},
	}
	if in.InputDeadline <= 0 {
		s.in.InputDeadline = DefaultInputDeadline
	}
	return s
}

func (s *txState) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return s.snapshot(), nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSchedule, s.onSchedule,
		workflow.UpdateHandlerOptions{Validator: s.validateSchedule}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDeliver, s.onDeliver,
		workflow.UpdateHandlerOptions{Validator: s.validateDeliver}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateProgress, s.onProgress,
		workflow.UpdateHandlerOptions{Validator: s.validateProgress}); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, SignalWebhook)
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			var sig WebhookSignal
			ch.Receive(gctx, &sig)
			s.onWebhook(gctx, sig)
		}
	})
	return nil
}

// onWebhook reacts to a verified webhook. A webhook is a trigger, never the truth: what it
// means is read back from EPC by an activity.
func (s *txState) onWebhook(ctx workflow.Context, sig WebhookSignal) {
	key := sig.DedupKey()
	if s.seen[key] {
		s.log.Debug("duplicate webhook ignored", "eventId", sig.EventID)
		return
	}
	s.seen[key] = true
	s.seenOrder = append(s.seenOrder, key)
	if len(s.seenOrder) > maxSeenWebhooks {
		delete(s.seen, s.seenOrder[0])
		s.seenOrder = s.seenOrder[1:]
	}
	s.st.WebhooksSeen++
	switch {
	case sig.ResourceType == epc.ResourceTransaction && sig.EventType == epc.WebhookCreated:
		return // the order itself: the workflow is already working it
	case sig.ResourceType == epc.ResourceTransaction && sig.EventType == epc.WebhookUpdated:
		s.requestUpdates++
	case sig.ResourceType == epc.ResourceTransactionEvent && s.knownEvent[sig.ResourceID]:
		return // already seen in an earlier read of the transaction
	}
	if !s.st.Closed && !s.cancelRequested {
		s.refresh(ctx)
	}
}

// refresh re-reads the transaction to learn whether the lender canceled. Reads are coalesced:
// at most one runs, and one more follows if webhooks arrived meanwhile.
func (s *txState) refresh(ctx workflow.Context) {
	if s.refreshing {
		s.refreshDirty = true
		return
	}
	s.refreshing = true
	workflow.Go(ctx, func(gctx workflow.Context) {
		defer func() { s.refreshing = false }()
		for {
			s.refreshDirty = false
			var snap activities.TxSnapshot
			err := workflow.ExecuteActivity(withActivity(gctx, "read transaction events", epcCall), ActivityInspectTransaction, s.in.TransactionID).Get(gctx, &snap)
			if err != nil {
				s.log.Warn("reading transaction after webhook failed", "error", err)
				return
			}
			for _, id := range snap.EventIDs {
				s.knownEvent[id] = true
			}
			if snap.CanceledEventID != "" {
				s.requestCancel(snap.CanceledEventID, snap.CancelComments)
			}
			if !s.refreshDirty || s.st.Closed || s.cancelRequested {
				return
			}
		}
	})
}

func (s *txState) requestCancel(eventID, comments string) {
	if s.cancelRequested || s.st.Closed {
		return
	}
	s.cancelRequested = true
	s.addEvent(EventRecord{ID: eventID, Type: epc.EventRequestCanceled, Text: "Lender canceled the request", Comments: comments})
	s.log.Info("lender canceled the request", "eventId", eventID)
	if s.cancelWork != nil {
		s.cancelWork()
	}
}

// errClosedElsewhere means the transaction was closed by someone else (or an earlier run).
var errClosedElsewhere = errors.New("transaction already closed")

// permanentFailure ends the order with status failed and these errors.
type permanentFailure struct {
	errs []epc.ErrorItem
}

func (p *permanentFailure) Error() string {
	var parts []string
	for _, e := range p.errs {
		parts = append(parts, e.Code+": "+e.Description)
	}
	return strings.Join(parts, "; ")
}

func fail(code, fieldID, format string, args ...any) error {
	return &permanentFailure{errs: []epc.ErrorItem{{Code: code, Description: fmt.Sprintf(format, args...), Type: epc.ErrorTypePartner, FieldID: fieldID}}}
}

// work runs the order from acknowledgement to completion.
func (s *txState) work(ctx workflow.Context) error {
	s.st.ReferenceNumber = ReferenceNumber(s.in.TransactionID)
	s.setStage(ctx, StageAcknowledged, "")
	out, err := s.patch(ctx, "acknowledge", epc.Response{
		Status: epc.StatusProcessing, PartnerStatus: "Order Received", ReferenceNumber: s.st.ReferenceNumber,
	}, false)
	if err != nil {
		return err
	}
	s.learn(ctx, out.Info)
	if out.Info.CanceledEventID != "" {
		s.requestCancel(out.Info.CanceledEventID, "")
		return workflow.ErrCanceled
	}

	s.setStage(ctx, StageGathering, "")
	if err := s.gather(ctx); err != nil {
		return err
	}
	product, ok := s.engine.Products[s.order.RequestType]
	if !ok {
		return fail(CodeUnsupportedType, "request.type", "request type %q is not offered by this partner (supported: %s)",
			s.order.RequestType, strings.Join(s.supportedTypes(), ", "))
	}
	s.product = product
	if err := s.awaitInput(ctx); err != nil {
		return err
	}

	s.setStage(ctx, StageWorking, "")
	d, err := product.Work(ctx, s)
	if err != nil {
		return err
	}

	if len(d.ServiceEvents) > 0 {
		s.setStage(ctx, StageServiceEvents, "")
		var sent activities.PatchOutcome
		if err := workflow.ExecuteActivity(withActivity(ctx, "send service events", epcCall), ActivitySendServiceEvents, activities.ServiceEventsInput{
			// No status: the response stays processing; only acknowledgement and completion set it.
			TransactionID: s.in.TransactionID, PartnerStatus: d.PartnerStatus, Events: d.ServiceEvents,
		}).Get(ctx, &sent); err != nil {
			return err
		}
		if !sent.Applied {
			s.learn(ctx, sent.Info)
			return errClosedElsewhere
		}
		var outcome activities.ServiceOutcome
		if err := workflow.ExecuteActivity(withActivity(ctx, "await service events outcome", awaitCall), ActivityAwaitServiceOutcome, s.in.TransactionID).Get(ctx, &outcome); err != nil {
			return err
		}
		s.st.ServiceEvents = &outcome
	}

	s.setStage(ctx, StageUploading, "")
	var resources []epc.Resource
	for _, f := range d.Files {
		var r epc.Resource
		if err := workflow.ExecuteActivity(withActivity(ctx, "upload "+f.Name, uploadCall), ActivityUploadFile, activities.UploadInput{
			TransactionID: s.in.TransactionID, File: f,
		}).Get(ctx, &r); err != nil {
			return err
		}
		resources = append(resources, r)
		s.st.Resources = append(s.st.Resources, r)
	}

	s.setStage(ctx, StageCompleting, "")
	done, err := s.patch(ctx, "complete", epc.Response{
		Status: epc.StatusCompleted, PartnerStatus: d.PartnerStatus, ReferenceNumber: s.st.ReferenceNumber,
		LoanFormat: epc.LoanFormatPLM, Loan: d.Loan, Resources: resources,
	}, true)
	if err != nil {
		return err
	}
	if !done.Applied {
		s.learn(ctx, done.Info)
		return errClosedElsewhere
	}
	return nil
}

// gather reads the order and checks the lender user's credentials.
func (s *txState) gather(ctx workflow.Context) error {
	var o activities.OrderData
	if err := workflow.ExecuteActivity(withActivity(ctx, "gather order data", epcCall), ActivityGatherData, s.in.TransactionID).Get(ctx, &o); err != nil {
		return err
	}
	s.order = o
	s.learn(ctx, o.TxInfo)
	if o.Closed() {
		return errClosedElsewhere
	}
	if o.CanceledEventID != "" {
		s.requestCancel(o.CanceledEventID, "")
		return workflow.ErrCanceled
	}
	if !o.CredentialsValid {
		return &permanentFailure{errs: []epc.ErrorItem{{Code: CodeInvalidCredentials, Description: "Invalid credentials: " + o.CredentialsProblem, Type: epc.ErrorTypePartner, FieldID: "request.credentials"}}}
	}
	return nil
}

// awaitInput asks the lender for missing input (inputRequired) until the product has what it
// needs, or fails the order when the lender stays silent past the deadline.
func (s *txState) awaitInput(ctx workflow.Context) error {
	asked := false
	for {
		missing := s.product.Requirements(s.order)
		s.st.MissingInput = missing
		if len(missing) == 0 {
			break
		}
		asked = true
		s.setStage(ctx, StageInputRequired, "lender input: "+fieldList(missing))
		out, err := s.patch(ctx, "input required", epc.Response{
			Status: epc.StatusInputRequired, PartnerStatus: "Waiting for Lender Input", ReferenceNumber: s.st.ReferenceNumber, Errors: missing,
		}, false)
		if err != nil {
			return err
		}
		if !out.Applied {
			return errClosedElsewhere
		}
		seen := s.requestUpdates
		ok, err := workflow.AwaitWithTimeout(ctx, s.in.InputDeadline, func() bool { return s.requestUpdates > seen })
		if err != nil {
			return err
		}
		if !ok {
			return fail(CodeInputTimeout, missing[0].FieldID, "the lender did not supply %s within %s", fieldList(missing), s.in.InputDeadline)
		}
		if err := s.gather(ctx); err != nil {
			return err
		}
	}
	if asked {
		if _, err := s.patch(ctx, "resume", epc.Response{
			Status: epc.StatusProcessing, PartnerStatus: "Lender Input Received", ReferenceNumber: s.st.ReferenceNumber,
		}, false); err != nil {
			return err
		}
	}
	return nil
}

// finish records how the order ended: canceled (with compensation), failed, or left alone
// because it was closed elsewhere.
func (s *txState) finish(ctx workflow.Context, err error) {
	// Work may have been canceled: closing steps run on a context of their own.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var pf *permanentFailure
	switch {
	case err == nil:
		s.st.Closed = true
		s.setStage(dctx, StageCompleted, "")
	case s.cancelRequested:
		s.setStage(dctx, StageCanceled, "compensating")
		if s.product != nil && s.st.ResponseStatus != epc.StatusCompleted {
			if cerr := s.product.Compensate(dctx, s); cerr != nil {
				s.st.LastError = "compensation: " + cerr.Error()
				s.log.Error("compensation failed", "error", cerr)
			}
		}
		out, perr := s.patch(dctx, "cancel", epc.Response{
			Status: epc.StatusCanceled, PartnerStatus: "Canceled by Lender", ReferenceNumber: s.st.ReferenceNumber,
		}, false)
		if perr != nil {
			s.st.LastError = perr.Error()
		} else if !out.Applied {
			s.learn(dctx, out.Info)
		}
		s.st.Closed = true
		if s.st.ResponseStatus == epc.StatusCompleted {
			s.setStage(dctx, StageCompleted, "") // completion won the race with the cancellation
		} else {
			s.setStage(dctx, StageCanceled, "")
		}
	case errors.Is(err, errClosedElsewhere):
		s.st.Closed = true
		s.setStage(dctx, StageClosedByOthers, "")
	default:
		if !errors.As(err, &pf) {
			pf = &permanentFailure{errs: []epc.ErrorItem{{Code: CodeProcessingFailed, Description: "processing failed: " + rootMessage(err), Type: epc.ErrorTypePartner}}}
		}
		s.st.LastError = pf.Error()
		s.st.Errors = pf.errs
		s.log.Warn("order failed", "error", pf.Error())
		out, perr := s.patch(dctx, "fail", epc.Response{
			Status: epc.StatusFailed, PartnerStatus: "Failed", ReferenceNumber: s.st.ReferenceNumber, Errors: pf.errs,
		}, false)
		if perr != nil {
			s.st.LastError += "; recording failure: " + perr.Error()
		} else if !out.Applied {
			s.learn(dctx, out.Info)
		}
		s.st.Closed = true
		s.setStage(dctx, StageFailed, "")
	}
}

// patch runs the PatchResponse activity and keeps the status current.
func (s *txState) patch(ctx workflow.Context, what string, r epc.Response, withParty bool) (activities.PatchOutcome, error) {
	var out activities.PatchOutcome
	summary := what
	if r.Status != "" {
		summary += ": " + r.Status
	}
	err := workflow.ExecuteActivity(withActivity(ctx, summary, epcCall), ActivityPatchResponse, activities.PatchInput{
		TransactionID: s.in.TransactionID, Patch: r, WithRespondingParty: withParty,
	}).Get(ctx, &out)
	if err != nil {
		return out, err
	}
	if out.Applied {
		if r.Status != "" {
			s.st.ResponseStatus = r.Status
		}
		if r.PartnerStatus != "" {
			s.setPartnerStatus(ctx, r.PartnerStatus)
		}
	}
	return out, nil
}

// learn copies what an activity read about the transaction into the status and search
// attributes.
func (s *txState) learn(ctx workflow.Context, info activities.TxInfo) {
	var upd []temporal.SearchAttributeUpdate
	set := func(dst *string, v string, key temporal.SearchAttributeKeyKeyword) {
		if v != "" && *dst != v {
			*dst = v
			upd = append(upd, key.ValueSet(v))
		}
	}
	set(&s.st.ClientID, info.ClientID, SAClientID)
	set(&s.st.Product, info.Product, SAProduct)
	set(&s.st.RequestType, info.RequestType, SARequestType)
	set(&s.st.LoanNumber, info.LoanNumber, SALoanNumber)
	if info.ResponseStatus != "" {
		s.st.ResponseStatus = info.ResponseStatus
	}
	if len(upd) > 0 {
		upd = append(upd, SATransactionID.ValueSet(s.in.TransactionID))
		s.upsert(ctx, upd...)
	}
}

func (s *txState) setPartnerStatus(ctx workflow.Context, ps string) {
	if s.st.PartnerStatus == ps {
		return
	}
	s.st.PartnerStatus = ps
	s.upsert(ctx, SAPartnerStatus.ValueSet(ps))
	s.details(ctx)
}

func (s *txState) setStage(ctx workflow.Context, stage, waitingFor string) {
	if s.st.Stage == stage && s.st.WaitingFor == waitingFor {
		return
	}
	s.st.Stage, s.st.WaitingFor = stage, waitingFor
	s.upsert(ctx, SAStage.ValueSet(stage), SATransactionID.ValueSet(s.in.TransactionID))
	s.details(ctx)
	s.log.Info("stage", "stage", stage, "waitingFor", waitingFor)
}

func (s *txState) upsert(ctx workflow.Context, upd ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, upd...); err != nil {
		s.log.Warn("upsert search attributes failed", "error", err)
	}
}

// details keeps the execution's "current details" readable in the Temporal UI.
func (s *txState) details(ctx workflow.Context) {
	st := s.st
	var b strings.Builder
	fmt.Fprintf(&b, "**EPC transaction** `%s`\n\n", st.TransactionID)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "- %s: %s\n", k, v)
		}
	}
	row("Product", st.RequestType)
	row("Loan", st.LoanNumber)
	row("Lender client", st.ClientID)
	row("Reference", st.ReferenceNumber)
	row("Stage", st.Stage)
	row("Waiting for", st.WaitingFor)
	row("Partner status", st.PartnerStatus)
	row("Response status", st.ResponseStatus)
	row("Last error", st.LastError)
	workflow.SetCurrentDetails(ctx, b.String())
}

func (s *txState) addEvent(e EventRecord) { s.st.Events = append(s.st.Events, e) }

func (s *txState) snapshot() Status {
	st := s.st
	st.Events = append([]EventRecord(nil), s.st.Events...)
	st.Resources = append([]epc.Resource(nil), s.st.Resources...)
	return st
}

func (s *txState) result() TransactionResult {
	return TransactionResult{
		TransactionID: s.in.TransactionID, ResponseStatus: s.st.ResponseStatus, PartnerStatus: s.st.PartnerStatus,
		Resources: s.st.Resources, Errors: s.st.Errors,
	}
}

func (s *txState) supportedTypes() []string {
	var names []string
	for k := range s.engine.Products {
		names = append(names, k)
	}
	sort.Strings(names) // map order is random: sort for determinism
	return names
}

// ReferenceNumber derives the partner's reference number from the transaction id, so every
// attempt and every run sends the same one.
func ReferenceNumber(transactionID string) string {
	id := strings.ToUpper(strings.ReplaceAll(transactionID, "-", ""))
	if len(id) > 10 {
		id = id[:10]
	}
	return "EPCF-" + id
}

func fieldList(items []epc.ErrorItem) string {
	var f []string
	for _, e := range items {
		if e.FieldID != "" {
			f = append(f, e.FieldID)
		}
	}
	return strings.Join(f, ", ")
}

// rootMessage is the innermost application error's message: what actually went wrong.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// Activity option presets.
type callKind int

const (
	epcCall callKind = iota
	awaitCall
	uploadCall
	localWork
)

func withActivity(ctx workflow.Context, summary string, kind callKind) workflow.Context {
	retry := &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		// No attempt limit: a platform outage delays an order, it never loses it.
		NonRetryableErrorTypes: []string{activities.ErrTypeRejected, activities.ErrTypeInvalidInput, activities.ErrTypeClosed},
	}
	o := workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry, Summary: summary}
	switch kind {
	case awaitCall:
		o.StartToCloseTimeout = 2 * time.Minute
		o.HeartbeatTimeout = 30 * time.Second
	case uploadCall:
		o.StartToCloseTimeout = 10 * time.Minute
		o.HeartbeatTimeout = 30 * time.Second
	case localWork:
		o.StartToCloseTimeout = time.Minute
	}
	return workflow.WithActivityOptions(ctx, o)
}
