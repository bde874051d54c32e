package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

// The lean order (issue 12): what an order costs is what Temporal does for it, so from
// changeLean on an order
//
//   - records one version marker where it recorded two (changeWebhookPath and changeClientID
//     are implied by changeLean);
//   - upserts its search attributes once per workflow task, all changes together
//     (flushSearchAttributes), not one change at a time; from leanQuiet on, only where the
//     order learns its data, enters or leaves a wait, and ends (flushDue);
//   - works in three activities where it ran seven: acknowledge and gather, send the service
//     events and await their outcome, upload and complete (activities/transaction_steps.go),
//     and runs the flood determination and certificate as local activities;
//   - learns of the lender's cancellation at work from those activities' own reads of the
//     transaction (each tells it, and the last two stop at it), so that the webhooks of its
//     own writes need not reach it: the API does not signal a transaction event's webhook to
//     an order at work (WebhookNeeded).
//
// Orders started before it keep the old commands, so their histories replay.
const changeLean = "lean-order"

// changeLean's versions.
const (
	leanVersion workflow.Version = 1
	// leanQuiet: the first steps of the work run local first (transaction_localfirst.go),
	// and the search attributes are upserted only where they tell something that outlasts
	// a step (flushDue), not at each step of the work. Each upsert is a visibility
	// write, the costliest thing Temporal does for an order (a third of its CPU in the
	// benchmark), and a dead row in every visibility index until vacuum.
	leanQuiet workflow.Version = 2
)

// lean is the transaction workflow's state of the lean order.
type lean struct {
	isLean bool
	// quiet: from leanQuiet on.
	quiet bool
	// learnedPending: the pending changes include what the order learned of its transaction
	// (client, product, request type, loan number), upserted at the first chance.
	learnedPending bool
	// shownStage is the EpcStage upserted last ("" before the first).
	shownStage string
	// pendingSA are the search-attribute changes not upserted yet.
	pendingSA []temporal.SearchAttributeUpdate
	// localRunning counts the local activities running: their results come back within the same
	// workflow task, so the changes wait for what follows them.
	localRunning int
}

// startLean decides, once and before any command, whether this run is a lean order, and
// starts the upserting of its search attributes.
func (s *txState) startLean(ctx workflow.Context) bool {
	v := workflow.GetVersion(ctx, changeLean, workflow.DefaultVersion, leanQuiet)
	s.isLean, s.quiet = v >= leanVersion, v >= leanQuiet
	if s.isLean {
		workflow.Go(ctx, func(gctx workflow.Context) {
			for {
				// Runs when every other coroutine waits: the changes of this workflow task so
				// far go in one upsert.
				_ = workflow.Await(gctx, func() bool { return len(s.pendingSA) > 0 && s.localRunning == 0 && s.flushDue() })
				s.flushSearchAttributes(gctx)
			}
		})
	}
	return s.isLean
}

// flushSearchAttributes upserts the pending search-attribute changes, if any: before the run
// ends, and whenever the order waits.
func (s *txState) flushSearchAttributes(ctx workflow.Context) {
	if len(s.pendingSA) == 0 {
		return
	}
	upd := s.pendingSA
	s.pendingSA, s.learnedPending, s.shownStage = nil, false, s.st.Stage
	if err := workflow.UpsertTypedSearchAttributes(ctx, upd...); err != nil {
		s.log.Warn("upsert search attributes failed", "error", err)
	}
}

// flushDue tells whether the pending changes are upserted at the end of this workflow task:
// always before leanQuiet; from it on when they hold what the order learned of its
// transaction (so an order held up at work can be found by its loan), or when the order
// enters a wait or leaves one (the API's WebhookNeeded reads EpcStage to tell an order at
// work from a waiting one). The steps of the work in between show in the execution's
// current details; the run's last changes are upserted before it ends.
func (s *txState) flushDue() bool {
	return !s.quiet || s.learnedPending || !atWork(s.st.Stage) || !atWork(s.shownStage)
}

// atWork: an order at stage works, reading its transaction again before it waits or ends
// ("": not shown yet, the order's first steps).
func atWork(stage string) bool {
	return stage == "" || slices.Contains(stagesAtWork, stage)
}

// intake acknowledges the order and gathers its data, in one step.
func (s *txState) intake(ctx workflow.Context) error {
	s.st.ReferenceNumber = ReferenceNumber(s.in.TransactionID)
	s.setStage(ctx, StageGathering, "")
	var out activities.IntakeOutcome
	err := s.step(ctx, "acknowledge and gather order data", epcCall, ActivityAcknowledgeAndGather, activities.PatchInput{
		TransactionID: s.in.TransactionID,
		Patch:         epc.Response{Status: epc.StatusProcessing, ReferenceNumber: s.st.ReferenceNumber, PartnerStatus: s.word(vocab.StatusOrderReceived)},
	}, &out)
	if err != nil {
		return err
	}
	if out.Ack.Applied {
		s.st.ResponseStatus = epc.StatusProcessing
		s.setPartnerStatus(ctx, vocab.StatusOrderReceived)
	}
	s.learn(ctx, out.Ack.Info)
	if !out.Ack.Applied {
		return s.closedAt(out.Ack.Info)
	}
	if err := s.canceledBefore(ctx, out.Ack.Info.CanceledEventID); err != nil || out.Order == nil {
		return err
	}
	return s.gathered(ctx, *out.Order)
}

// canceledAtWork stops the work when a read made by a step of the work (a PATCH of status
// status, not one closing the order) found the lender's cancellation: from changeLean on
// every read tells it, as webhooks no longer do while the order works.
func (s *txState) canceledAtWork(ctx workflow.Context, status string, info activities.TxInfo) error {
	if !s.isLean || epc.IsClosingStatus(status) {
		return nil
	}
	return s.canceledBefore(ctx, info.CanceledEventID)
}

// deliverLean sends the service events and awaits their outcome, then uploads the files and
// completes the response: a step and an activity, each stopping at the lender's cancellation.
func (s *txState) deliverLean(ctx workflow.Context, d Delivery) error {
	if len(d.ServiceEvents) > 0 {
		s.setStage(ctx, StageServiceEvents, "")
		var res activities.ServiceEventsResult
		// No status: the response stays processing; only acknowledgement and completion set it.
		if err := s.step(ctx, "send service events and await the outcome", awaitCall, ActivitySendAndAwaitOutcome, activities.ServiceEventsInput{
			TransactionID: s.in.TransactionID, PartnerStatus: s.word(d.PartnerStatus), Events: d.ServiceEvents, UnlessCanceled: true,
		}, &res); err != nil {
			return err
		}
		if err := s.canceledBefore(ctx, res.Sent.Info.CanceledEventID); err != nil {
			return err
		}
		if !res.Sent.Applied {
			s.learn(ctx, res.Sent.Info)
			return s.closedAt(res.Sent.Info)
		}
		s.st.ServiceEvents = res.Outcome
	}
	s.setStage(ctx, StageUploading, "")
	var out activities.CompleteOutcome
	// Always an activity: two runs of the upload at once could fill two slots (see
	// activities.uploadTo), and a local step runs again beside a lost workflow task's.
	if err := workflow.ExecuteActivity(withActivity(ctx, "upload and complete", uploadCall), ActivityUploadAndComplete, activities.CompleteInput{
		TransactionID: s.in.TransactionID, Files: d.Files, WithRespondingParty: true, UnlessCanceled: true,
		Patch: epc.Response{
			Status: epc.StatusCompleted, ReferenceNumber: s.st.ReferenceNumber, PartnerStatus: s.word(d.PartnerStatus),
			LoanFormat: epc.LoanFormatPLM, Loan: d.Loan,
		},
	}).Get(ctx, &out); err != nil {
		return err
	}
	s.st.Resources = append(s.st.Resources, out.Resources...)
	done := out.Complete
	if !done.Applied {
		if err := s.canceledBefore(ctx, done.Info.CanceledEventID); err != nil {
			return err
		}
		s.learn(ctx, done.Info)
		return s.closedAt(done.Info)
	}
	s.st.ResponseStatus = epc.StatusCompleted
	s.setPartnerStatus(ctx, d.PartnerStatus)
	return nil
}

// localWork runs work done on the worker alone (a determination, a PDF): from changeLean on
// as a local activity (a marker in the history, no task of its own), before as an activity.
func (s *txState) localWork(ctx workflow.Context, summary, activity string, arg, result any) error {
	if !s.isLean {
		return workflow.ExecuteActivity(withActivity(ctx, summary, localWork), activity, arg).Get(ctx, result)
	}
	return s.runLocal(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute, Summary: summary, RetryPolicy: withRetry()},
		activity, arg, result)
}

// runLocal runs activity as a local activity with opts, counted in localRunning: its result
// comes back within the same workflow task, so the search attributes wait for what follows.
func (s *txState) runLocal(ctx workflow.Context, opts workflow.LocalActivityOptions, activity string, arg, result any) error {
	s.localRunning++
	defer func() { s.localRunning-- }()
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), activity, arg).Get(ctx, result)
}

// ChangeVersionAttribute is the search attribute the SDK records a run's versions in
// (workflow.GetVersion), as "<change id>-<version>".
const ChangeVersionAttribute = "TemporalChangeVersion"

// Stages at which an order works, reading its transaction again before it waits or ends.
var stagesAtWork = []string{StageReceived, StageAcknowledged, StageGathering, StageWorking, StageServiceEvents, StageUploading, StageCompleting}

// WebhookNeeded tells the API whether a transaction event's webhook must reach a running
// order, from what Temporal shows of the order's run: its EpcStage ("" when none is set
// yet), its TemporalChangeVersion, and whether it is the workflow's first run. Not when
//
//   - the first run has not finished its first workflow task (no stage yet): every order
//     reads its transaction, and sees the event, when it acknowledges and gathers, after that;
//   - a lean order (changeLean) is at work: each of its steps reads the transaction, tells
//     the lender's cancellation and stops at it, and the step that takes it to a waiting
//     point is an activity scheduled with the stage's upsert, which reads after.
//
// An order waiting for someone outside it (input, schedule, report) needs it: a cancellation
// reaches it now rather than at its next recheck.
func WebhookNeeded(stage string, changeVersions []string, firstRun bool) bool {
	switch {
	case stage == "":
		return !firstRun
	case !slices.Contains(changeVersions, fmt.Sprintf("%s-%d", changeLean, leanVersion)) &&
		!slices.Contains(changeVersions, fmt.Sprintf("%s-%d", changeLean, leanQuiet)):
		return true
	}
	return !slices.Contains(stagesAtWork, stage)
}
