package starter

import (
	"context"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/workflows"
)

// The payment flow: a payment session's workflow is started with its create-session update,
// read with the status query and signalled with Inbank's callbacks. Errors carry this
// package's sentinels and keep the cause (an application error's type and details).

// StartPayment starts a PaymentSession workflow with its create-session update
// (update-with-start) and returns the update's answer: as soon as Inbank has answered the
// create call.
func (s *Starter) StartPayment(ctx context.Context, in workflows.PaymentInput) (workflows.PaymentCreated, error) {
	in.CreateOnStart = false
	id := workflows.PaymentWorkflowID(in.ID)
	op := s.Client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// An ended session is never started again under its id (an Idempotency-Key's).
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.PaymentWorkflowName, in)
	u, err := s.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID:   id,
			UpdateName:   workflows.UpdateCreateSession,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return workflows.PaymentCreated{}, fmt.Errorf("payments: start session %s: %w", in.ID, mark(err))
	}
	var out workflows.PaymentCreated
	if err := u.Get(ctx, &out); err != nil {
		return workflows.PaymentCreated{}, fmt.Errorf("payments: create session %s: %w", in.ID, mark(err))
	}
	return out, nil
}

// PaymentStatus reads a payment session's state (open or closed) with the status query.
func (s *Starter) PaymentStatus(ctx context.Context, id string) (workflows.PaymentStatus, error) {
	var st workflows.PaymentStatus
	v, err := s.Client.QueryWorkflow(ctx, workflows.PaymentWorkflowID(id), "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("payments: query session %s: %w", id, mark(err))
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("payments: decode session %s: %w", id, err)
	}
	return st, nil
}

// SignalPayment hands a verified Inbank callback to its session's workflow: ErrNotFound when
// that session has ended (or never was).
func (s *Starter) SignalPayment(ctx context.Context, id string, cb workflows.InbankCallback) error {
	err := s.Client.SignalWorkflow(ctx, workflows.PaymentWorkflowID(id), "", workflows.SignalInbankCallback, cb)
	if err != nil {
		return fmt.Errorf("payments: signal session %s: %w", id, mark(err))
	}
	return nil
}

// PaymentRunning reports whether the session's workflow is still running (when in doubt,
// yes: the client is then told to try again rather than that the create failed).
func (s *Starter) PaymentRunning(ctx context.Context, id string) bool {
	d, err := s.Client.DescribeWorkflowExecution(ctx, workflows.PaymentWorkflowID(id), "")
	if err != nil {
		return true
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING
}
