// Package payments runs Inbank e-POS payment sessions (seed 001) as durable Temporal
// workflows: create the session, then follow it to a final status. Callbacks are only
// triggers; every decision is taken on what GET answers.
package payments

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/pos"
)

// Names of the workflow, its update, signal and query: declared once, used by the handler,
// the worker and any parent workflow.
const (
	PaymentWorkflowName = "InbankPaymentSession"
	CreateUpdateName    = "create-session"
	CallbackSignalName  = "inbank-callback"
	StatusQueryName     = "status"

	CreateActivityName = "InbankCreateSession"
	GetActivityName    = "InbankGetSession"
)

// StatusCreating is a session's status before Inbank has answered the create call.
const StatusCreating pos.InbankStatus = "creating"

// Error types of the workflow's and activities' application errors.
const (
	ErrTypeInvalidInput   = "InvalidInput"       // our input is wrong: never retried
	ErrTypeInvalidRequest = "InvalidRequest"     // the body breaks seed 001's rules
	ErrTypeRejected       = "InbankRejected"     // Inbank answered 400
	ErrTypeUnauthorized   = "InbankUnauthorized" // 401: our API key is wrong
	ErrTypeForbidden      = "InbankForbidden"    // 403: the key may not use this shop
	ErrTypeShopNotFound   = "InbankNotFound"     // 404: unknown shop (or session)
	ErrTypeUnavailable    = "InbankUnavailable"  // 5xx or network: retried
	ErrTypeAlreadyCreated = "AlreadyCreated"     // a second create-session update
	ErrTypeNotCreated     = "NotCreated"         // no create-session update came in time
)

// DefaultLifetime bounds a session whose validUntil Inbank did not tell (the sandbox's own
// default); CreateWait bounds how long a workflow started without createOnStart waits for
// its create-session update.
const (
	DefaultLifetime = time.Hour
	CreateWait      = 5 * time.Minute
)

// WorkflowID is the workflow id of payment session id.
func WorkflowID(id string) string { return "payment-session-" + id }

// SessionInput starts a PaymentSession. Request is the seed 001 create body as sent to
// Inbank (partnerUrls.callbackUrl already pointing at us); it holds no secret: the API key
// stays in the activities' configuration.
type SessionInput struct {
	ID       string          `json:"id"`
	ShopUUID string          `json:"shopUuid"`
	Request  json.RawMessage `json:"request"`
	// CreateOnStart creates the session as the workflow starts, without the create-session
	// update: for a parent starting it as a child workflow.
	CreateOnStart bool `json:"createOnStart,omitempty"`
	// RequestDigest is the SHA-256 of the API request that started the session under an
	// Idempotency-Key, so a replay with another request can be told apart.
	RequestDigest string `json:"requestDigest,omitempty"`
}

// Created answers the create-session update: what the customer needs, as soon as Inbank
// has answered.
type Created struct {
	ID             string           `json:"id"`
	POSSessionUUID string           `json:"posSessionUuid"`
	RedirectURL    string           `json:"redirectUrl"`
	Status         pos.InbankStatus `json:"status"`
}

// Callback is the inbank-callback signal: a verified callback's claims, used only as a
// trigger to read the session again.
type Callback struct {
	POSSessionUUID string           `json:"posSessionUuid,omitempty"`
	Status         pos.InbankStatus `json:"status"`
	Timestamp      int64            `json:"timestamp"`
}

// Session is the status query's answer and the workflow's result.
type Session struct {
	ID                    string           `json:"id"`
	ShopUUID              string           `json:"shopUuid"`
	POSSessionUUID        string           `json:"posSessionUuid,omitempty"`
	RedirectURL           string           `json:"redirectUrl,omitempty"`
	Status                pos.InbankStatus `json:"status"`
	ValidUntil            time.Time        `json:"validUntil,omitzero"`
	CreditApplicationUUID string           `json:"creditApplicationUuid,omitempty"`
	CreditContractUUID    string           `json:"creditContractUuid,omitempty"`
	// Callbacks counts the callback signals received (duplicates included).
	Callbacks int `json:"callbacks"`
	// Checks counts the GETs that answered.
	Checks int `json:"checks"`
	// LastError is the last failed GET, if the session could not be read.
	LastError string `json:"lastError,omitempty"`
	// RequestDigest: see SessionInput.
	RequestDigest string `json:"requestDigest,omitempty"`
}

// Final reports whether the session has ended.
func (s Session) Final() bool { return s.Status.IsFinal() }

// CreateInput is the CreateSession activity's input.
type CreateInput struct {
	ShopUUID string          `json:"shopUuid"`
	Request  json.RawMessage `json:"request"`
}

// GetInput is the GetSession activity's input.
type GetInput struct {
	ShopUUID       string `json:"shopUuid"`
	POSSessionUUID string `json:"posSessionUuid"`
}

// PaymentSession creates an Inbank POS session (through the create-session update, or at
// once with CreateOnStart) and follows it until it is completed, cancelled, declined or
// expired. Each inbank-callback signal triggers a GET; only GET's status counts, so forged,
// duplicated or reordered callbacks change nothing by themselves. At validUntil the session
// is read once more and, if still open, ends expired.
func PaymentSession(ctx workflow.Context, in SessionInput) (Session, error) {
	if in.ID == "" || !pos.IsUUID(in.ShopUUID) || len(in.Request) == 0 {
		return Session{}, temporal.NewNonRetryableApplicationError("id, a shopUuid UUID and request are required", ErrTypeInvalidInput, nil)
	}
	log := workflow.GetLogger(ctx)
	st := Session{ID: in.ID, ShopUUID: in.ShopUUID, Status: StatusCreating, RequestDigest: in.RequestDigest}
	if err := workflow.SetQueryHandler(ctx, StatusQueryName, func() (Session, error) { return st, nil }); err != nil {
		return st, err
	}
	var (
		creating  bool
		createErr error
	)
	create := func(ctx workflow.Context) (Created, error) {
		creating = true
		var c Created
		err := workflow.ExecuteActivity(createOptions(ctx), CreateActivityName, CreateInput{ShopUUID: in.ShopUUID, Request: in.Request}).Get(ctx, &c)
		if err != nil {
			createErr = err
			return c, asApplicationError(err)
		}
		c.ID = in.ID
		st.POSSessionUUID, st.RedirectURL, st.Status = c.POSSessionUUID, c.RedirectURL, c.Status
		return c, nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CreateUpdateName, create, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context) error {
			if creating {
				return temporal.NewNonRetryableApplicationError("payment session "+in.ID+" is already created", ErrTypeAlreadyCreated, nil)
			}
			return nil
		},
	}); err != nil {
		return st, err
	}
	if in.CreateOnStart {
		if _, err := create(ctx); err != nil {
			return st, err
		}
	} else {
		ok, err := workflow.AwaitWithTimeout(ctx, CreateWait, func() bool { return st.POSSessionUUID != "" || createErr != nil })
		if err != nil {
			return st, err
		}
		if !ok {
			return st, temporal.NewNonRetryableApplicationError("no create-session update within "+CreateWait.String(), ErrTypeNotCreated, nil)
		}
		if createErr != nil {
			return st, asApplicationError(createErr)
		}
	}

	signals := workflow.GetSignalChannel(ctx, CallbackSignalName)
	check := func() {
		var s pos.InbankSession
		err := workflow.ExecuteActivity(getOptions(ctx), GetActivityName, GetInput{ShopUUID: in.ShopUUID, POSSessionUUID: st.POSSessionUUID}).Get(ctx, &s)
		if err != nil {
			// Not fatal: the next callback or the expiry timer reads it again.
			st.LastError = err.Error()
			log.Warn("payment session: cannot read the Inbank session", "id", in.ID, "error", err)
			return
		}
		st.Checks++
		st.LastError = ""
		if s.Status.Known() {
			st.Status = s.Status
		}
		if !s.ValidUntil.IsZero() {
			st.ValidUntil = s.ValidUntil.UTC()
		}
		st.CreditApplicationUUID, st.CreditContractUUID = s.CreditApplicationUUID, s.CreditContractUUID
	}
	// The create answer has no validUntil: read the session once to learn it.
	check()
	if st.ValidUntil.IsZero() {
		st.ValidUntil = workflow.Now(ctx).UTC().Add(DefaultLifetime)
	}
	for !st.Final() {
		tctx, cancelTimer := workflow.WithCancel(ctx)
		wait := max(st.ValidUntil.Sub(workflow.Now(ctx)), 0)
		// Callbacks may all be lost (Inbank gives up, our endpoint was down): the session is
		// also read every RecheckInterval, so a paid one does not wait for its expiry.
		// Sessions started before this change keep their single timer.
		recheck := false
		if workflow.GetVersion(ctx, recheckChange, workflow.DefaultVersion, 1) >= 1 && wait > RecheckInterval {
			wait, recheck = RecheckInterval, true
		}
		timer := workflow.NewTimer(tctx, wait)
		expired := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(signals, func(c workflow.ReceiveChannel, _ bool) {
			var cb Callback
			c.Receive(ctx, &cb)
			st.Callbacks++
			// Every pending callback is covered by the one GET below.
			for c.ReceiveAsync(&cb) {
				st.Callbacks++
			}
		})
		sel.AddFuture(timer, func(workflow.Future) { expired = !recheck })
		sel.Select(ctx)
		cancelTimer()
		check()
		if expired && !st.Final() {
			st.Status = pos.StatusExpired
		}
	}
	// Callbacks still queued are triggers for a session already final: nothing to do.
	var late Callback
	for signals.ReceiveAsync(&late) {
		st.Callbacks++
	}
	log.Info("payment session ended", "id", in.ID, "status", st.Status)
	return st, nil
}

// RecheckInterval is how often an open session is read without a callback to prompt it.
const RecheckInterval = 5 * time.Minute

// recheckChange versions the periodic read in PaymentSession's histories.
const recheckChange = "periodic-session-read"

func createOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			// Few tries: a create that timed out may have created a session (see CreateSession).
			MaximumAttempts:        3,
			NonRetryableErrorTypes: nonRetryable(),
		},
	})
}

func getOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable(),
		},
	})
}

func nonRetryable() []string {
	return []string{ErrTypeInvalidInput, ErrTypeInvalidRequest, ErrTypeRejected, ErrTypeUnauthorized, ErrTypeForbidden, ErrTypeShopNotFound}
}

// asApplicationError returns the application error inside an activity error, so the
// update's caller sees its type and details directly.
func asApplicationError(err error) error {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae
	}
	return fmt.Errorf("payments: %w", err)
}
