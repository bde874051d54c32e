package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
)

// Activity options of every flow: timeouts, heartbeats and retry policies, in one place.

// callKind names the transaction flow's option presets.
type callKind int

const (
	epcCall    callKind = iota // a call to EPC
	awaitCall                  // a wait on the platform, heartbeating
	uploadCall                 // a file upload, heartbeating
	localWork                  // work on the worker (a determination, a PDF)
	infoCall                   // a read of EPC for the record only: a few tries, then without it
)

// withActivity sets the options of a transaction activity: summary shows in the UI. No
// attempt limit: a platform outage delays an order, it never loses it.
func withActivity(ctx workflow.Context, summary string, kind callKind) workflow.Context {
	retry := withRetry()
	o := workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry, Summary: summary}
	switch kind {
	case awaitCall:
		o.StartToCloseTimeout = 2 * time.Minute
		o.HeartbeatTimeout = 30 * time.Second
	case uploadCall:
		o.StartToCloseTimeout = 10 * time.Minute
		o.HeartbeatTimeout = 30 * time.Second
	case localWork:
		o.StartToCloseTimeout = time.Minute
	case infoCall:
		retry.MaximumAttempts = 5
	}
	return workflow.WithActivityOptions(ctx, o)
}

// withRetry is the transaction flow's retry policy.
func withRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrTypeRejected, activities.ErrTypeInvalidInput, activities.ErrTypeClosed},
	}
}

// inbankCreateOptions: few tries, as a create that timed out may have created a session
// (see activities.Payment.CreateSession).
func inbankCreateOptions(ctx workflow.Context) workflow.Context {
	return inbankOptions(ctx, 10*time.Second, 3)
}

// inbankGetOptions: a read, safe to retry.
func inbankGetOptions(ctx workflow.Context) workflow.Context {
	return inbankOptions(ctx, 30*time.Second, 5)
}

func inbankOptions(ctx workflow.Context, maxInterval time.Duration, attempts int32) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: maxInterval,
			MaximumAttempts:        attempts,
			NonRetryableErrorTypes: inbankNonRetryable(),
		},
	})
}

func inbankNonRetryable() []string {
	return []string{activities.ErrTypeInvalidInput, activities.ErrTypeInvalidRequest, activities.ErrTypeInbankRejected,
		activities.ErrTypeInbankUnauthorized, activities.ErrTypeInbankForbidden, activities.ErrTypeInbankNotFound}
}
