package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// Payment carries the payment flow's activities: calls to Inbank. The API key lives in
// Inbank (the worker's configuration), never in workflow inputs or histories. With no
// Inbank client, every call fails at once with ErrTypeInvalidInput.
type Payment struct {
	Inbank *pos.InbankClient
}

// Error types of the payment activities' failures.
const (
	ErrTypeInvalidRequest     = "InvalidRequest"     // the body breaks seed 001's rules
	ErrTypeInbankRejected     = "InbankRejected"     // Inbank answered 400
	ErrTypeInbankUnauthorized = "InbankUnauthorized" // 401: our API key is wrong
	ErrTypeInbankForbidden    = "InbankForbidden"    // 403: the key may not use this shop
	ErrTypeInbankNotFound     = "InbankNotFound"     // 404: unknown shop (or session)
	ErrTypeInbankUnavailable  = "InbankUnavailable"  // 5xx or network: retried
)

// InbankCreateInput is the CreateSession activity's input.
type InbankCreateInput struct {
	ShopUUID string          `json:"shopUuid"`
	Request  json.RawMessage `json:"request"`
}

// InbankCreated is what CreateSession learns from Inbank.
type InbankCreated struct {
	POSSessionUUID string           `json:"posSessionUuid"`
	RedirectURL    string           `json:"redirectUrl"`
	Status         pos.InbankStatus `json:"status"`
}

// InbankGetInput is the GetSession activity's input.
type InbankGetInput struct {
	ShopUUID       string `json:"shopUuid"`
	POSSessionUUID string `json:"posSessionUuid"`
}

// CreateSession creates the Inbank POS session. Inbank's create is not idempotent, so the
// created session is recorded as a heartbeat detail the moment Inbank answers: a retry of
// this activity finds it there and returns it instead of creating another. The SDK sends the
// first heartbeat at once and the last one with a failure, so that covers every retry after
// a failure reported by this worker. What remains: the worker dying (or losing the server)
// between Inbank's 201 and the heartbeat reaching Temporal, or a call that timed out after
// Inbank created the session; then a retry creates a second session. The first one is never
// shown to anyone and expires at its validUntil; the retry policy allows few attempts.
func (p *Payment) CreateSession(ctx context.Context, in InbankCreateInput) (InbankCreated, error) {
	if activity.HasHeartbeatDetails(ctx) {
		var prev pos.InbankSessionCreated
		if err := activity.GetHeartbeatDetails(ctx, &prev); err == nil && prev.UUID != "" {
			activity.GetLogger(ctx).Info("inbank session already created by an earlier attempt", "posSessionUuid", prev.UUID)
			return InbankCreated{POSSessionUUID: prev.UUID, RedirectURL: prev.RedirectURL, Status: prev.Status}, nil
		}
	}
	if p.Inbank == nil {
		return InbankCreated{}, errNoInbank()
	}
	s, err := p.Inbank.CreateSessionJSON(ctx, in.ShopUUID, in.Request)
	if err != nil {
		return InbankCreated{}, inbankError(err)
	}
	activity.RecordHeartbeat(ctx, s)
	return InbankCreated{POSSessionUUID: s.UUID, RedirectURL: s.RedirectURL, Status: s.Status}, nil
}

// GetSession reads the session: the source of truth a callback only hints at. It is
// read-only, so retrying it is always safe.
func (p *Payment) GetSession(ctx context.Context, in InbankGetInput) (pos.InbankSession, error) {
	if p.Inbank == nil {
		return pos.InbankSession{}, errNoInbank()
	}
	s, err := p.Inbank.GetSession(ctx, in.ShopUUID, in.POSSessionUUID)
	if err != nil {
		return s, inbankError(err)
	}
	return s, nil
}

func errNoInbank() error {
	return temporal.NewNonRetryableApplicationError("payments: no Inbank client configured", ErrTypeInvalidInput, nil)
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
		typ := ErrTypeInbankRejected
		switch {
		case errors.Is(err, pos.ErrUnauthorized):
			typ = ErrTypeInbankUnauthorized
		case errors.Is(err, pos.ErrForbidden):
			typ = ErrTypeInbankForbidden
		case errors.Is(err, pos.ErrNotFound):
			typ = ErrTypeInbankNotFound
		}
		return temporal.NewNonRetryableApplicationError(ie.Error(), typ, nil, ie.Problems)
	}
	return temporal.NewApplicationError(fmt.Sprintf("inbank unavailable: %v", err), ErrTypeInbankUnavailable)
}
