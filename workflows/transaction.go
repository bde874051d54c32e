package workflows

import (
	"errors"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

// Engine runs EPC transactions. Products maps a request type to the product that fulfils it.
type Engine struct {
	Products map[string]Product
	// RecheckInterval is how often an order waiting for someone outside it re-reads its
	// transaction (webhooks ICE gave up on are lost); zero means DefaultRecheckInterval.
	RecheckInterval time.Duration
	// Vocabulary names what the workflow sends the lender: error codes, event types,
	// service-event codes, partner statuses. A name is data in the activities' inputs, so a
	// deployment may change one without versioning; the zero value is vocab.Default().
	Vocabulary vocab.Vocabulary
	// LocalStepBudget is how long a step of an order's work may run as a local activity,
	// retries included, before it runs as an activity (transaction_localfirst.go); zero
	// means DefaultLocalStepBudget. Any value replays: a step's outcome is in its marker.
	LocalStepBudget time.Duration
}

// DefaultRecheckInterval is the default of Engine.RecheckInterval.
const DefaultRecheckInterval = 6 * time.Hour

// changeWebhookPath versions what the webhook path changed in the workflow's commands: the
// transaction re-read while the order waits (transaction_wait.go), continue-as-new at those
// waiting points, the request's changes told by reads rather than counted webhooks, and
// webhooks of types not acted on recorded with their event (transaction_webhook.go). Orders
// started before it keep the old behaviour, so their histories replay.
const changeWebhookPath = "webhook-path"

// changeClientID versions where the lender's client id comes from: before it, the status's
// ClientID started as the webhook's meta.instanceId and EpcClientId was upserted only when the
// transaction's clientId differed from it, so an order whose two were equal never had it set.
// From it on the client id comes from the transaction alone and its first read sets
// EpcClientId. Orders started before it keep their upserts, so their histories replay.
const changeClientID = "client-id-from-transaction"

// Transaction is the transaction workflow, registered as TransactionWorkflowName: it works
// the order (work), then records how it ended (finish). A long-lived order continues as new
// at a waiting point when Temporal suggests it, carrying its state (in.Restored).
func (e *Engine) Transaction(ctx workflow.Context, in TransactionInput) (TransactionResult, error) {
	if in.TransactionID == "" {
		return TransactionResult{}, temporal.NewNonRetryableApplicationError("transactionId is required", "InvalidInput", nil)
	}
	s := newTxState(ctx, e, in)
	if err := s.registerHandlers(ctx); err != nil {
		return TransactionResult{}, err
	}
	// The lender's cancellation cancels workCtx (transaction_cancel.go).
	workCtx, cancelWork := workflow.WithCancel(ctx)
	s.cancelWork = cancelWork
	err := s.work(workCtx)
	var can *workflow.ContinueAsNewError
	if errors.As(err, &can) {
		s.flushSearchAttributes(ctx)
		return TransactionResult{}, err
	}
	s.finish(ctx, err)
	// Let an operator update that is still running (e.g. posting a progress event) finish.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	s.flushSearchAttributes(ctx)
	return s.result(), nil
}

// txState is the workflow's memory of one transaction.
type txState struct {
	engine *Engine
	in     TransactionInput
	log    log.Logger
	st     Status
	v      workflow.Version // of changeWebhookPath
	lean                    // from changeLean on (transaction_lean.go)
	// partnerStatus is the key of the partner status last set: the decision to upsert
	// EpcPartnerStatus compares keys, never the configured values, so a history replays under
	// any vocabulary.
	partnerStatus vocab.Key
	// clientSA is the client id EpcClientId was last upserted with, as learn compares it:
	// before changeClientID it starts as the instance id, as the status's ClientID did.
	clientSA string

	signals    workflow.ReceiveChannel
	seen       map[string]bool // webhook dedup keys
	seenOrder  []string
	knownEvent map[string]bool // transaction events already inspected
	busy       int             // activities run for webhooks beside refresh (ReadEvent)

	requestUpdates int // before changeWebhookPath: lender request updates seen ("updated" webhooks)
	// From changeWebhookPath on, a request change is told by reads of the transaction: a
	// digest of the request never seen before (stale reads show one seen already).
	requestDigests map[string]bool
	requestChanged bool

	// The lender's input (awaitInput): whether this wait asked for it, and until when.
	inputAsked    bool
	inputDeadline time.Time
	// resume is the waiting point a continued run starts at ("" for a fresh run, and once
	// the run has left it).
	resume string

	// The lender's cancellation (transaction_cancel.go).
	cancelRequested          bool
	cancelWork               workflow.CancelFunc
	refreshing, refreshDirty bool
	compensations            []compensation

	order    activities.OrderData
	product  Product
	schedule *ScheduleInput
	delivery *DeliverInput
}

func newTxState(ctx workflow.Context, e *Engine, in TransactionInput) *txState {
	s := &txState{
		engine:         e,
		in:             in,
		log:            log.With(workflow.GetLogger(ctx), "transactionId", in.TransactionID),
		seen:           map[string]bool{},
		knownEvent:     map[string]bool{},
		requestDigests: map[string]bool{},
		st:             Status{TransactionID: in.TransactionID, InstanceID: in.InstanceID, Stage: StageReceived, Runs: 1},
	}
	// Before any command: histories recorded before the change have no marker here.
	if s.startLean(ctx) {
		s.v = 1 // and the client id from the transaction (changeClientID)
	} else {
		s.v = workflow.GetVersion(ctx, changeWebhookPath, workflow.DefaultVersion, 1)
		if workflow.GetVersion(ctx, changeClientID, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			s.clientSA = in.InstanceID
		}
	}
	if in.InputDeadline <= 0 {
		s.in.InputDeadline = DefaultInputDeadline
	}
	if in.Restored != nil {
		s.restore(ctx, *in.Restored)
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
	s.signals = workflow.GetSignalChannel(ctx, SignalWebhook)
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			var sig WebhookSignal
			if s.v == workflow.DefaultVersion {
				s.signals.Receive(gctx, &sig)
				s.onWebhook(gctx, sig)
				continue
			}
			// A blocked Receive takes the signal off the channel before this goroutine runs:
			// it stays on the channel (Len) until it is handled, so that the run never
			// continues as new with one taken and not handled.
			_ = workflow.Await(gctx, func() bool { return s.signals.Len() > 0 })
			for s.signals.ReceiveAsync(&sig) {
				s.onWebhook(gctx, sig)
			}
		}
	})
	return nil
}

// work runs the order from acknowledgement to completion. A continued run has done the
// first steps already and starts at the waiting point it was continued at (s.resume).
func (s *txState) work(ctx workflow.Context) error {
	if s.resume == "" {
		if err := s.drillUpgrade(ctx); err != nil { // only in the drill's upgraded build
			return err
		}
	}
	switch {
	case s.resume != "":
	case s.isLean:
		if err := s.intake(ctx); err != nil {
			return err
		}
	default:
		if err := s.acknowledge(ctx); err != nil {
			return err
		}
		s.setStage(ctx, StageGathering, "")
		if err := s.gather(ctx); err != nil {
			return err
		}
	}
	if err := s.chooseProduct(); err != nil {
		return err
	}
	if err := s.awaitInput(ctx); err != nil {
		return err
	}
	if !s.resuming(atSchedule) && !s.resuming(atReport) {
		s.setStage(ctx, StageWorking, "")
	}
	d, err := s.product.Work(ctx, s)
	if err != nil {
		return err
	}
	if s.isLean {
		return s.deliverLean(ctx, d)
	}
	if err := s.sendServiceEvents(ctx, d); err != nil {
		return err
	}
	resources, err := s.upload(ctx, d)
	if err != nil {
		return err
	}
	return s.complete(ctx, d, resources)
}

// acknowledge tells the lender the order is being processed, under our reference number.
func (s *txState) acknowledge(ctx workflow.Context) error {
	s.st.ReferenceNumber = ReferenceNumber(s.in.TransactionID)
	s.setStage(ctx, StageAcknowledged, "")
	out, err := s.patch(ctx, "acknowledge", vocab.StatusOrderReceived, epc.Response{
		Status: epc.StatusProcessing, ReferenceNumber: s.st.ReferenceNumber,
	}, false)
	if err != nil {
		return err
	}
	s.learn(ctx, out.Info)
	return s.canceledBefore(ctx, out.Info.CanceledEventID)
}

// gather reads the order and checks the lender user's credentials.
func (s *txState) gather(ctx workflow.Context) error {
	var o activities.OrderData
	if err := workflow.ExecuteActivity(withActivity(ctx, "gather order data", epcCall), ActivityGatherData, s.in.TransactionID).Get(ctx, &o); err != nil {
		return err
	}
	return s.gathered(ctx, o)
}

// gathered takes in the order's data as read.
func (s *txState) gathered(ctx workflow.Context, o activities.OrderData) error {
	s.order = o
	s.requestDigests[o.RequestDigest] = true
	s.requestChanged = false
	s.learn(ctx, o.TxInfo)
	if o.Closed() {
		return errClosedElsewhere
	}
	if err := s.canceledBefore(ctx, o.CanceledEventID); err != nil {
		return err
	}
	if !o.CredentialsValid {
		return &permanentFailure{errs: []epc.ErrorItem{{Code: s.word(vocab.ErrorInvalidCredentials), Description: "Invalid credentials: " + o.CredentialsProblem, Type: epc.ErrorTypePartner, FieldID: "request.credentials"}}}
	}
	return nil
}

// chooseProduct picks the product of the order's request type.
func (s *txState) chooseProduct() error {
	product, ok := s.engine.Products[s.order.RequestType]
	if !ok {
		return fail(s.word(vocab.ErrorUnsupportedRequestType), "request.type", "request type %q is not offered by this partner (supported: %s)",
			s.order.RequestType, strings.Join(s.supportedTypes(), ", "))
	}
	s.product = product
	return nil
}

// sendServiceEvents posts the product's service events and waits for the platform's outcome.
func (s *txState) sendServiceEvents(ctx workflow.Context, d Delivery) error {
	if len(d.ServiceEvents) == 0 {
		return nil
	}
	s.setStage(ctx, StageServiceEvents, "")
	var sent activities.PatchOutcome
	if err := workflow.ExecuteActivity(withActivity(ctx, "send service events", epcCall), ActivitySendServiceEvents, activities.ServiceEventsInput{
		// No status: the response stays processing; only acknowledgement and completion set it.
		TransactionID: s.in.TransactionID, PartnerStatus: s.word(d.PartnerStatus), Events: d.ServiceEvents,
	}).Get(ctx, &sent); err != nil {
		return err
	}
	if !sent.Applied {
		s.learn(ctx, sent.Info)
		return errClosedElsewhere
	}
	var outcome activities.ServiceOutcome
	f := workflow.ExecuteActivity(withActivity(ctx, "await service events outcome", awaitCall), ActivityAwaitServiceOutcome, s.in.TransactionID)
	if err := s.waitWhilePending(ctx, f); err != nil {
		return err
	}
	if err := f.Get(ctx, &outcome); err != nil {
		return err
	}
	s.st.ServiceEvents = &outcome
	return nil
}

// upload uploads the product's files, one after the other.
func (s *txState) upload(ctx workflow.Context, d Delivery) ([]epc.Resource, error) {
	s.setStage(ctx, StageUploading, "")
	var resources []epc.Resource
	for _, f := range d.Files {
		var r epc.Resource
		if err := workflow.ExecuteActivity(withActivity(ctx, "upload "+f.Name, uploadCall), ActivityUploadFile, activities.UploadInput{
			TransactionID: s.in.TransactionID, File: f,
		}).Get(ctx, &r); err != nil {
			return nil, err
		}
		resources = append(resources, r)
		s.st.Resources = append(s.st.Resources, r)
	}
	return resources, nil
}

// complete records the completed response with the product's loan data and resources.
func (s *txState) complete(ctx workflow.Context, d Delivery, resources []epc.Resource) error {
	s.setStage(ctx, StageCompleting, "")
	done, err := s.patch(ctx, "complete", d.PartnerStatus, epc.Response{
		Status: epc.StatusCompleted, ReferenceNumber: s.st.ReferenceNumber,
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

// finish records how the order ended: completed, canceled (transaction_cancel.go), closed
// elsewhere, or failed. Work may have been canceled: closing steps run on a context of their
// own.
func (s *txState) finish(ctx workflow.Context, err error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	switch {
	case err == nil, errors.Is(err, errDoneBefore):
		s.st.Closed = true
		s.setStage(dctx, StageCompleted, "")
	case s.cancelRequested:
		s.finishCanceled(dctx)
	case errors.Is(err, errClosedElsewhere):
		s.st.Closed = true
		s.setStage(dctx, StageClosedByOthers, "")
	default:
		s.finishFailed(dctx, err)
	}
}

// patch runs the PatchResponse activity with the partner status ps (its vocabulary key; none:
// "") and keeps the status current.
func (s *txState) patch(ctx workflow.Context, what string, ps vocab.Key, r epc.Response, withParty bool) (activities.PatchOutcome, error) {
	var out activities.PatchOutcome
	if ps != "" {
		r.PartnerStatus = s.word(ps)
	}
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
		if ps != "" {
			s.setPartnerStatus(ctx, ps)
		}
	}
	return out, s.canceledAtWork(ctx, r.Status, out.Info)
}

// word is the vocabulary's value of k.
func (s *txState) word(k vocab.Key) string { return s.engine.Vocabulary.Get(k) }

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
