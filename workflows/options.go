package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
)

// Activity options of every flow: timeouts, heartbeats and retry policies, in one place.

// inbankCreateOptions: few tries, as a create that timed out may have created a session
// (see activities.Payment.CreateSession).
func inbankCreateOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: inbankNonRetryable(),
		},
	})
}

// inbankGetOptions: a read, safe to retry.
func inbankGetOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: inbankNonRetryable(),
		},
	})
}

func inbankNonRetryable() []string {
	return []string{activities.ErrTypeInvalidInput, activities.ErrTypeInvalidRequest, activities.ErrTypeInbankRejected,
		activities.ErrTypeInbankUnauthorized, activities.ErrTypeInbankForbidden, activities.ErrTypeInbankNotFound}
}
