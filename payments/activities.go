package payments

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// Activities call Inbank. The API key lives in Inbank (the worker's configuration), never
// in workflow inputs or histories.
type Activities struct {
	Inbank *pos.InbankClient
}

// Register registers the PaymentSession workflow and these activities under their names.
func (a *Activities) Register(w worker.Registry) {
	w.RegisterWorkflowWithOptions(PaymentSession, workflow.RegisterOptions{Name: PaymentWorkflowName})
	w.RegisterActivityWithOptions(a.CreateSession, activity.RegisterOptions{Name: CreateActivityName})
	w.RegisterActivityWithOptions(a.GetSession, activity.RegisterOptions{Name: GetActivityName})
}

// CreateSession creates the Inbank POS session. Inbank's create is not idempotent, so the
// created session is recorded as a heartbeat detail the moment Inbank answers: a retry of
// this activity finds it there and returns it instead of creating another. The SDK sends the
// first heartbeat at once and the last one with a failure, so that covers every retry after
// a failure reported by this worker. What remains: the worker dying (or losing the server)
// between Inbank's 201 and the heartbeat reaching Temporal, or a call that timed out after
// Inbank created the session; then a retry creates a second session. The first one is never
// shown to anyone and expires at its validUntil; the retry policy allows few attempts.
func (a *Activities) CreateSession(ctx context.Context, in CreateInput) (Created, error) {
	var c Created
	if activity.HasHeartbeatDetails(ctx) {
		var prev pos.InbankSessionCreated
		if err := activity.GetHeartbeatDetails(ctx, &prev); err == nil && prev.UUID != "" {
			activity.GetLogger(ctx).Info("inbank session already created by an earlier attempt", "posSessionUuid", prev.UUID)
			return Created{POSSessionUUID: prev.UUID, RedirectURL: prev.RedirectURL, Status: prev.Status}, nil
		}
	}
	if a.Inbank == nil {
		return c, temporal.NewNonRetryableApplicationError("payments: no Inbank client configured", ErrTypeInvalidInput, nil)
	}
	s, err := a.Inbank.CreateSessionJSON(ctx, in.ShopUUID, in.Request)
	if err != nil {
		return c, inbankError(err)
	}
	activity.RecordHeartbeat(ctx, s)
	return Created{POSSessionUUID: s.UUID, RedirectURL: s.RedirectURL, Status: s.Status}, nil
}

// GetSession reads the session: the source of truth a callback only hints at. It is
// read-only, so retrying it is always safe.
func (a *Activities) GetSession(ctx context.Context, in GetInput) (pos.InbankSession, error) {
	if a.Inbank == nil {
		return pos.InbankSession{}, temporal.NewNonRetryableApplicationError("payments: no Inbank client configured", ErrTypeInvalidInput, nil)
	}
	s, err := a.Inbank.GetSession(ctx, in.ShopUUID, in.POSSessionUUID)
	if err != nil {
		return s, inbankError(err)
	}
	return s, nil
}

// inbankError maps a client error to an application error whose type says whether to retry.
// Validation problems travel as details (they hold pointers and rules, never secrets).
func inbankError(err error) error {
	var ie *pos.InbankError
	switch {
	case schemas.Problems(err) != nil:
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidRequest, nil, schemas.Problems(err))
	case errors.Is(err, pos.ErrInvalidArgument):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	case errors.As(err, &ie) && !ie.Temporary():
		typ := ErrTypeRejected
		switch {
		case errors.Is(err, pos.ErrUnauthorized):
			typ = ErrTypeUnauthorized
		case errors.Is(err, pos.ErrForbidden):
			typ = ErrTypeForbidden
		case errors.Is(err, pos.ErrNotFound):
			typ = ErrTypeShopNotFound
		}
		return temporal.NewNonRetryableApplicationError(ie.Error(), typ, nil, ie.Problems)
	}
	return temporal.NewApplicationError(fmt.Sprintf("inbank unavailable: %v", err), ErrTypeUnavailable)
}
