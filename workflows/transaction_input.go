package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

// awaitInput asks the lender for missing input (inputRequired) until the product has what it
// needs, or fails the order when the lender stays silent past the deadline. A run continued
// while waiting for the input goes on waiting.
func (s *txState) awaitInput(ctx workflow.Context) error {
	if s.resuming(atInput) {
		if err := s.waitForInput(ctx); err != nil {
			return err
		}
	} else {
		s.inputAsked = false
	}
	for {
		missing := s.product.Requirements(s.order, s.engine.Vocabulary)
		s.st.MissingInput = missing
		if len(missing) == 0 {
			break
		}
		s.inputAsked = true
		if err := s.askForInput(ctx, missing); err != nil {
			return err
		}
	}
	if !s.inputAsked {
		return nil
	}
	_, err := s.patch(ctx, "resume", vocab.StatusInputReceived, epc.Response{
		Status: epc.StatusProcessing, ReferenceNumber: s.st.ReferenceNumber,
	}, false)
	return err
}

// askForInput records inputRequired with the missing fields, waits for the lender's update
// and reads the order again.
func (s *txState) askForInput(ctx workflow.Context, missing []epc.ErrorItem) error {
	s.setStage(ctx, StageInputRequired, "lender input: "+fieldList(missing))
	out, err := s.patch(ctx, "input required", vocab.StatusWaitingForInput, epc.Response{
		Status: epc.StatusInputRequired, ReferenceNumber: s.st.ReferenceNumber, Errors: missing,
	}, false)
	if err != nil {
		return err
	}
	if !out.Applied {
		return errClosedElsewhere
	}
	s.inputDeadline = workflow.Now(ctx).Add(s.in.InputDeadline)
	return s.waitForInput(ctx)
}

// waitForInput waits for the lender's update of the request and reads the order again, or
// fails the order once s.inputDeadline has passed.
func (s *txState) waitForInput(ctx workflow.Context) error {
	var ok bool
	var err error
	if s.v == workflow.DefaultVersion {
		seen := s.requestUpdates
		ok, err = workflow.AwaitWithTimeout(ctx, s.in.InputDeadline, func() bool { return s.requestUpdates > seen })
	} else {
		ok, err = s.waitOutside(ctx, atInput, s.inputDeadline, func() bool { return s.requestChanged })
	}
	if err != nil {
		return err
	}
	if !ok {
		missing := s.st.MissingInput
		return fail(s.word(vocab.ErrorInputTimeout), missing[0].FieldID, "the lender did not supply %s within %s", fieldList(missing), s.in.InputDeadline)
	}
	return s.gather(ctx)
}
