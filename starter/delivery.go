package starter

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/workflows"
)

// The delivery flow: a Create Package Event starts the package's workflow; each recipient's
// open signals it.

// StartPackage starts a package's workflow. A package already tracked (running or finished)
// is left alone: a resent event starts nothing.
func (s *Starter) StartPackage(ctx context.Context, in workflows.PackageInput) error {
	_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        workflows.PackageWorkflowID(in.Key),
		TaskQueue: s.TaskQueue,
		// A finished package is not tracked again; a running one is left alone.
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.PackageWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err == nil || errors.As(err, &started) {
		return nil
	}
	return fmt.Errorf("delivery: start package %s: %w", in.PackageID, mark(err))
}

// SignalPackageOpened tells a package's workflow that a recipient opened it: ErrNotFound
// when the workflow has finished (expired, or all opened).
func (s *Starter) SignalPackageOpened(ctx context.Context, key string, sig workflows.RecipientOpened) error {
	err := s.Client.SignalWorkflow(ctx, workflows.PackageWorkflowID(key), "", workflows.SignalRecipientOpened, sig)
	if err != nil {
		return fmt.Errorf("delivery: signal package: %w", mark(err))
	}
	return nil
}
