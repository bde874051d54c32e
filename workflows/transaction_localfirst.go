package workflows

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
)

// From leanQuiet on, two steps of an order's work (acknowledge and gather; send the service
// events and await their outcome) run local first: as local activities, each a marker in the
// workflow task that runs it, with no activity task and no workflow task of its own, so a
// flood order whose platform answers at once is worked in two workflow tasks, the upload and
// completion an activity between them. The upload stays an activity: two runs of it at once
// could fill two slots (activities.uploadTo), and local steps run again beside those of a
// workflow task Temporal gave up on (the server restarted, the worker starved). A step that
// does not succeed within Engine.LocalStepBudget (the platform down or slow, an outcome not in
// yet) runs again as an activity: a long outage then waits in Temporal's retries, not in
// workflow-task heartbeats that would grow the history.
//
// A worker lost while its workflow task runs local steps loses what they did from the
// history: the next worker runs them again from the task's start. So each step reads before it
// writes and writes only what does not hold yet; the acknowledgement holds once the response
// is processing under our reference number (PatchInput.Acknowledgement); and a step that finds
// the response completed under our reference knows that an earlier run of the steps completed
// the order (doneBefore).

// DefaultLocalStepBudget is the default of Engine.LocalStepBudget.
const DefaultLocalStepBudget = 10 * time.Second

// errDoneBefore: a step found the order completed by an earlier run of the order's steps.
var errDoneBefore = errors.New("the order was completed by an earlier run of its steps")

// step runs a step of the work: from leanQuiet on local first, before as an activity. The
// first step after a wait runs as an activity too: what a workflow task says reaches
// Temporal when the task ends, and the API must see the order's stage at work (EpcStage,
// upserted with the step's schedule) before the platform's webhooks of its writes arrive,
// or it would signal them all (WebhookNeeded).
func (s *txState) step(ctx workflow.Context, summary string, kind callKind, activity string, arg, result any) error {
	if !s.quiet || !atWork(s.shownStage) {
		return workflow.ExecuteActivity(withActivity(ctx, summary, kind), activity, arg).Get(ctx, result)
	}
	err := s.runLocal(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: cmp.Or(s.engine.LocalStepBudget, DefaultLocalStepBudget), Summary: summary, RetryPolicy: withRetry(),
	}, activity, arg, result)
	if err == nil || !runAgainAsActivity(err) {
		return err
	}
	s.log.Info("step runs again as an activity", "step", summary, "error", err)
	return workflow.ExecuteActivity(withActivity(ctx, summary, kind), activity, arg).Get(ctx, result)
}

// runAgainAsActivity: a local step that timed out or failed in a way that may pass goes on
// as an activity; a refusal, an invalid input or the order's cancellation end it as they
// would end the activity.
func runAgainAsActivity(err error) bool {
	var canceled *temporal.CanceledError
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &canceled):
		return false
	case errors.As(err, &app):
		return !app.NonRetryable() && !slices.Contains(withRetry().NonRetryableErrorTypes, app.Type())
	}
	return true
}

// doneBefore: a step that could not write found the response completed under our reference
// number, by an earlier run of the order's steps.
func (s *txState) doneBefore(info activities.TxInfo) bool {
	return s.quiet && s.st.ReferenceNumber != "" && info.ResponseStatus == epc.StatusCompleted &&
		info.ResponseReference == s.st.ReferenceNumber
}

// closedAt is the error of a step that could not write: errDoneBefore or errClosedElsewhere.
func (s *txState) closedAt(info activities.TxInfo) error {
	if s.doneBefore(info) {
		s.st.ResponseStatus = epc.StatusCompleted
		return errDoneBefore
	}
	return errClosedElsewhere
}
