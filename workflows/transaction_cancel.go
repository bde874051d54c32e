package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

// The lender's cancellation, top to bottom. The lender cancels in Encompass; EPC then holds
// a urn:elli:epc:transaction:request:canceled event ([ours]: vocab.EventRequestCanceled) and
// sends webhooks. The workflow
//
//  1. detects it: every webhook triggers a re-read of the transaction (refresh), an order that
//     waits re-reads it now and then (recheck, transaction_wait.go), and the acknowledgement
//     and the order's reads report it too (canceledBefore);
//  2. records the request (requestCancel) and stops the work: the pipeline runs on a context
//     that requestCancel cancels, so whatever step it is in returns;
//  3. compensates: each product step that promised something to the lender registers, as it
//     is taken, what undoes it (saga style: addCompensation, beside the step in
//     transaction_products.go); they run last registered first (compensate);
//  4. records the canceled response (finishCanceled), unless the order completed first.
//
// A closed order, or one already canceled, ignores further cancellations; operator actions
// are refused from the request on (checkOpen, transaction_operator.go).

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
			s.observe(gctx, snap)
			if !s.refreshDirty || s.st.Closed || s.cancelRequested {
				return
			}
		}
	})
}

// canceledBefore stops the work when a read of the transaction already holds the
// cancellation event (eventID not empty).
func (s *txState) canceledBefore(ctx workflow.Context, eventID string) error {
	if eventID == "" {
		return nil
	}
	s.requestCancel(ctx, eventID, "")
	return workflow.ErrCanceled
}

// requestCancel records the lender's request, at the workflow's time of learning it, and
// stops the work.
func (s *txState) requestCancel(ctx workflow.Context, eventID, comments string) {
	if s.cancelRequested || s.st.Closed {
		return
	}
	s.cancelRequested = true
	s.addEvent(EventRecord{ID: eventID, Type: s.word(vocab.EventRequestCanceled), Text: "Lender canceled the request", Comments: comments, At: workflow.Now(ctx)})
	s.log.Info("lender canceled the request", "eventId", eventID)
	if s.cancelWork != nil {
		s.cancelWork()
	}
}

// compensation undoes one step of a product.
type compensation func(ctx workflow.Context) error

// addCompensation registers what undoes a step just taken.
func (s *txState) addCompensation(c compensation) { s.compensations = append(s.compensations, c) }

// compensate undoes the steps taken, the last first; the first failure stops it and is kept
// in the status (the order is canceled all the same).
func (s *txState) compensate(ctx workflow.Context) {
	for i := len(s.compensations) - 1; i >= 0; i-- {
		if err := s.compensations[i](ctx); err != nil {
			s.st.LastError = "compensation: " + err.Error()
			s.log.Error("compensation failed", "error", err)
			return
		}
	}
}

// finishCanceled compensates, unless the order completed first, and records the canceled
// response. ctx is not canceled with the work.
func (s *txState) finishCanceled(ctx workflow.Context) {
	s.setStage(ctx, StageCanceled, "compensating")
	if s.st.ResponseStatus != epc.StatusCompleted {
		s.compensate(ctx)
	}
	out, err := s.patch(ctx, "cancel", vocab.StatusCanceled, epc.Response{
		Status: epc.StatusCanceled, ReferenceNumber: s.st.ReferenceNumber,
	}, false)
	if err != nil {
		s.st.LastError = err.Error()
	} else if !out.Applied {
		s.learn(ctx, out.Info)
	}
	s.st.Closed = true
	if s.st.ResponseStatus == epc.StatusCompleted {
		s.setStage(ctx, StageCompleted, "") // completion won the race with the cancellation
	} else {
		s.setStage(ctx, StageCanceled, "")
	}
}
