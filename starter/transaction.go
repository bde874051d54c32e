package starter

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/workflows"
)

// The transaction flow: EPC webhooks start and signal a transaction's workflow; operators
// read it and act on it through updates.

// SignalFromWebhook turns a parsed, verified webhook into the workflow's signal; bodySHA256
// is the hex SHA-256 of its raw body.
func SignalFromWebhook(w epc.Webhook, bodySHA256 string) (workflows.WebhookSignal, error) {
	txID, err := epc.TransactionIDFromWebhook(w)
	if err != nil {
		return workflows.WebhookSignal{}, err
	}
	sig := workflows.WebhookSignal{
		EventID: w.EventID, EventTime: w.EventTime, EventType: w.EventType,
		ResourceType: w.Meta.ResourceType, ResourceID: w.Meta.ResourceID, TransactionID: txID,
		BodySHA256: bodySHA256,
	}
	if tx, ev, err := epc.EventFromRef(w.Meta.ResourceRef); err == nil && tx == txID {
		sig.RefEventID = ev
	}
	return sig, nil
}

// DeliverWebhook hands a webhook to its transaction's workflow, starting it if needed
// (SignalWithStart): any number of webhooks, in any order, make one workflow.
func (s *Starter) DeliverWebhook(ctx context.Context, w epc.Webhook, bodySHA256 string) (runID string, err error) {
	sig, err := SignalFromWebhook(w, bodySHA256)
	if err != nil {
		return "", err
	}
	if runID, err := s.unneeded(ctx, w, sig); err != nil {
		return runID, err
	}
	opts := s.startOptions(w, sig)
	run, err := s.Client.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalWebhook, sig, opts,
		workflows.TransactionWorkflowName, transactionInput(w, sig))
	if err != nil {
		return "", classify(err)
	}
	return run.GetRunID(), nil
}

// startOptions start the transaction workflow of a webhook.
func (s *Starter) startOptions(w epc.Webhook, sig workflows.WebhookSignal) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:        workflows.TransactionWorkflowID(sig.TransactionID),
		TaskQueue: s.TaskQueue,
		// A finished order is not started again by a late webhook.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         "EPC transaction " + sig.TransactionID,
		StaticDetails:         fmt.Sprintf("EPC transaction `%s` from EPC instance `%s`, first seen as a `%s` webhook.", sig.TransactionID, w.Meta.InstanceID, w.EventType),
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SATransactionID.ValueSet(sig.TransactionID)),
	}
}

func transactionInput(w epc.Webhook, sig workflows.WebhookSignal) workflows.TransactionInput {
	return workflows.TransactionInput{TransactionID: sig.TransactionID, InstanceID: w.Meta.InstanceID}
}

// unneeded answers ErrNotNeeded (with the run's id) for a transaction event's webhook its
// order would learn nothing from, as workflows.WebhookNeeded tells from the running order's
// search attributes (EpcStage, TemporalChangeVersion: a description is a read, no work for
// the order), and ErrClosed when the order has finished. An event of an order not started
// yet (its transaction's webhook is on its way) starts it without a signal: the order reads
// its transaction first. Any other webhook, or a failed call, goes on to the signal: nothing
// is lost.
func (s *Starter) unneeded(ctx context.Context, w epc.Webhook, sig workflows.WebhookSignal) (string, error) {
	if sig.ResourceType != epc.ResourceTransactionEvent || sig.EventType != epc.WebhookCreated {
		return "", nil
	}
	d, err := s.Client.DescribeWorkflowExecution(ctx, workflows.TransactionWorkflowID(sig.TransactionID), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		opts := s.startOptions(w, sig)
		opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
		run, err := s.Client.ExecuteWorkflow(ctx, opts, workflows.TransactionWorkflowName, transactionInput(w, sig))
		if err != nil {
			return "", classify(err)
		}
		return run.GetRunID(), fmt.Errorf("%w: the order is started and reads its transaction first", ErrNotNeeded)
	case err != nil:
		return "", nil
	}
	info := d.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "", nil
	default:
		return "", fmt.Errorf("%w: %s is %s", ErrClosed, workflows.TransactionWorkflowID(sig.TransactionID), info.GetStatus())
	}
	fields := info.GetSearchAttributes().GetIndexedFields()
	var stage string
	var versions []string
	dc := converter.GetDefaultDataConverter()
	if p := fields[workflows.SAStage.GetName()]; p != nil && dc.FromPayload(p, &stage) != nil {
		return "", nil
	}
	if p := fields[workflows.ChangeVersionAttribute]; p != nil && dc.FromPayload(p, &versions) != nil {
		return "", nil
	}
	firstRun := info.GetFirstRunId() != "" && info.GetFirstRunId() == runID
	if workflows.WebhookNeeded(stage, versions, firstRun) {
		return "", nil
	}
	return runID, fmt.Errorf("%w: the order is at %q", ErrNotNeeded, stage)
}

// Status queries a transaction's workflow.
func (s *Starter) Status(ctx context.Context, transactionID string) (workflows.Status, error) {
	var st workflows.Status
	v, err := s.Client.QueryWorkflow(ctx, workflows.TransactionWorkflowID(transactionID), "", workflows.QueryStatus)
	if err != nil {
		return st, classify(err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode status: %w", err)
	}
	return st, nil
}

// Schedule records the inspection appointment of an Appraisal order.
func (s *Starter) Schedule(ctx context.Context, transactionID string, in workflows.ScheduleInput) (workflows.ActionResult, error) {
	return s.update(ctx, transactionID, workflows.UpdateSchedule, in)
}

// Deliver hands over an Appraisal report and value.
func (s *Starter) Deliver(ctx context.Context, transactionID string, in workflows.DeliverInput) (workflows.ActionResult, error) {
	return s.update(ctx, transactionID, workflows.UpdateDeliver, in)
}

// Progress posts an operator's progress note to the lender.
func (s *Starter) Progress(ctx context.Context, transactionID string, in workflows.ProgressInput) (workflows.ActionResult, error) {
	return s.update(ctx, transactionID, workflows.UpdateProgress, in)
}

func (s *Starter) update(ctx context.Context, transactionID, name string, arg any) (workflows.ActionResult, error) {
	var res workflows.ActionResult
	h, err := s.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.TransactionWorkflowID(transactionID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err == nil {
		return res, nil
	}
	err = classify(err)
	if errors.Is(err, ErrNotFound) {
		// Temporal says "not found" for an update to a finished workflow: tell the two apart.
		if st, qerr := s.Status(ctx, transactionID); qerr == nil && st.Closed {
			return res, fmt.Errorf("%w: transaction %s is closed (%s): no further actions", ErrRejected, transactionID, st.Stage)
		}
	}
	return res, err
}
