package workflows

import (
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/vocab"
)

// Waiting for someone outside the order: the lender's input, the operator's schedule and
// report, the platform's processing of service events. From changeWebhookPath on:
//
//   - ICE gives up on a webhook after its retries (about 8 hours), so an order that waits
//     re-reads its transaction every RecheckInterval and acts on what changed as the lost
//     webhook would have made it (recheck). The timer runs only while the order waits: it
//     is canceled as soon as the wait ends, so it never fires into an order at work or
//     closed.
//   - A long-lived order continues as new when Temporal suggests it, at a waiting point only
//     and only when nothing is in flight: no activity, no update handler, no signal unread
//     (mayContinueAsNew). The next run, same workflow id, carries the whole state (Carried)
//     and resumes at that waiting point.

// Waiting points a continued run resumes at.
const (
	atInput    = "input"
	atSchedule = "schedule"
	atReport   = "report"
)

// resuming reports whether this run was continued at waiting point at and has not left it.
func (s *txState) resuming(at string) bool { return s.resume == at }

func (s *txState) recheckEvery() time.Duration {
	if s.engine.RecheckInterval > 0 {
		return s.engine.RecheckInterval
	}
	return DefaultRecheckInterval
}

// waitOutside waits for cond at waiting point at, until deadline (zero: none). It returns
// false when the deadline passed first; a *workflow.ContinueAsNewError when the run continues
// as new here.
func (s *txState) waitOutside(ctx workflow.Context, at string, deadline time.Time, cond func() bool) (bool, error) {
	defer func() { s.resume = "" }()
	for {
		timeout := s.recheckEvery()
		if !deadline.IsZero() {
			timeout = min(timeout, deadline.Sub(workflow.Now(ctx)))
		}
		if cond() {
			return true, nil
		}
		if timeout > 0 {
			woken, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout: timeout, TimerOptions: workflow.TimerOptions{Summary: "recheck the transaction"},
			}, func() bool { return cond() || s.mayContinueAsNew(ctx) })
			switch {
			case err != nil:
				return false, err
			case cond():
				return true, nil
			case woken:
				return false, s.continueAsNew(ctx, at)
			}
		}
		s.recheck(ctx)
		if cond() {
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err // the recheck found the cancellation: no other timer
		}
		if !deadline.IsZero() && !workflow.Now(ctx).Before(deadline) {
			return false, nil
		}
	}
}

// waitAt waits for cond at waiting point at, with no deadline: the way the order waits for
// its operator.
func (s *txState) waitAt(ctx workflow.Context, at string, cond func() bool) error {
	if s.v == workflow.DefaultVersion {
		return workflow.Await(ctx, cond)
	}
	_, err := s.waitOutside(ctx, at, time.Time{}, cond)
	return err
}

// waitWhilePending re-reads the transaction every RecheckInterval while f (an activity that
// waits on the platform) is pending. The run cannot continue as new meanwhile.
func (s *txState) waitWhilePending(ctx workflow.Context, f workflow.Future) error {
	if s.v == workflow.DefaultVersion {
		return nil
	}
	for !f.IsReady() {
		ready, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout: s.recheckEvery(), TimerOptions: workflow.TimerOptions{Summary: "recheck the transaction"},
		}, f.IsReady)
		if err != nil {
			return err
		}
		if !ready {
			s.recheck(ctx)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// recheck re-reads the transaction after a whole interval without news, and acts on it as on
// a webhook's read (observe).
func (s *txState) recheck(ctx workflow.Context) {
	if s.st.Closed || s.cancelRequested {
		return
	}
	var snap activities.TxSnapshot
	err := workflow.ExecuteActivity(withActivity(ctx, "recheck the transaction", epcCall), ActivityInspectTransaction, s.in.TransactionID).Get(ctx, &snap)
	if err != nil {
		s.log.Warn("rechecking the transaction failed", "error", err)
		return
	}
	s.st.Rechecks++
	s.observe(ctx, snap)
}

// observe takes in a read of the transaction: the events it holds, the lender's cancellation
// and, from changeWebhookPath on, a change of the request.
func (s *txState) observe(ctx workflow.Context, snap activities.TxSnapshot) {
	for _, id := range snap.EventIDs {
		s.knownEvent[id] = true
	}
	if snap.CanceledEventID != "" {
		s.requestCancel(ctx, snap.CanceledEventID, snap.CancelComments)
	}
	if s.v >= 1 && snap.RequestDigest != "" && !s.requestDigests[snap.RequestDigest] {
		s.requestDigests[snap.RequestDigest] = true
		s.requestChanged = true
	}
}

// mayContinueAsNew reports whether Temporal suggests continuing as new and the order is at a
// safe point: nothing in flight, every signal handled, still open.
func (s *txState) mayContinueAsNew(ctx workflow.Context) bool {
	return workflow.GetInfo(ctx).GetContinueAsNewSuggested() &&
		!s.refreshing && s.busy == 0 && s.signals.Len() == 0 && workflow.AllHandlersFinished(ctx) &&
		!s.cancelRequested && !s.st.Closed
}

// continueAsNew ends this run with a new one of the same workflow id, carrying the state.
func (s *txState) continueAsNew(ctx workflow.Context, at string) error {
	s.log.Info("continuing as new", "at", at, "history", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	in := s.in
	in.Restored = s.carry(at)
	return workflow.NewContinueAsNewError(ctx, TransactionWorkflowName, in)
}

func (s *txState) carry(at string) *Carried {
	c := &Carried{
		Status: s.snapshot(), Order: s.order, At: at, InputAsked: s.inputAsked, InputDeadline: s.inputDeadline,
		Seen: append([]string(nil), s.seenOrder...), PartnerStatusKey: s.partnerStatus,
	}
	// Sorted: map order is random, and the input is a command.
	c.KnownEvents = slices.Sorted(maps.Keys(s.knownEvent))
	c.RequestDigests = slices.Sorted(maps.Keys(s.requestDigests))
	return c
}

// restore takes up the state a previous run carried.
func (s *txState) restore(ctx workflow.Context, c Carried) {
	s.st = c.Status
	s.st.Runs++
	s.shownStage = s.st.Stage // the run continued as new after upserting it
	s.clientSA = c.Status.ClientID
	s.partnerStatus = c.PartnerStatusKey
	if s.partnerStatus == "" && s.st.PartnerStatus != "" {
		// Carried by a run before the vocabulary, which sent the default values.
		s.partnerStatus, _ = vocab.Default().KeyOf(vocab.StatusFailed, s.st.PartnerStatus)
	}
	if s.st.InstanceID == "" {
		s.st.InstanceID = s.in.InstanceID // carried by a run before InstanceID was kept
	}
	s.order = c.Order
	// The product was chosen by an earlier run: an operator's update may be validated before
	// this run's work chooses it again.
	s.product = s.engine.Products[s.order.RequestType]
	s.resume = c.At
	s.inputAsked, s.inputDeadline = c.InputAsked, c.InputDeadline
	for _, k := range c.Seen {
		s.remember(k)
	}
	for _, id := range c.KnownEvents {
		s.knownEvent[id] = true
	}
	for _, d := range c.RequestDigests {
		s.requestDigests[d] = true
	}
	if in := s.st.Inspection; in != nil {
		scheduleInspection(s, *in) // registers its compensation again
	}
	s.delivery = s.st.Report
	s.details(ctx)
}
