package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/pos"
)

// The payment flow runs an Inbank e-POS payment session (seed 001): create the session, then
// follow it to a final status. Callbacks are only triggers; every decision is taken on what
// Inbank's GET answers.

// StatusCreating is a session's status before Inbank has answered the create call.
const StatusCreating pos.InbankStatus = "creating"

// Error types the payment workflow raises (its activities' are in package activities).
const (
	ErrTypeAlreadyCreated = "AlreadyCreated" // a second create-session update
	ErrTypeNotCreated     = "NotCreated"     // no create-session update came in time
)

// DefaultLifetime bounds a session whose validUntil Inbank did not tell (the sandbox's own
// default); CreateWait bounds how long a workflow started without createOnStart waits for
// its create-session update.
const (
	DefaultLifetime = time.Hour
	CreateWait      = 5 * time.Minute
)

// RecheckInterval is how often an open session is read without a callback to prompt it.
const RecheckInterval = 5 * time.Minute

// recheckChange versions the periodic read in PaymentSession's histories.
const recheckChange = "periodic-session-read"

// PaymentInput starts a PaymentSession. Request is the seed 001 create body as sent to
// Inbank (partnerUrls.callbackUrl already pointing at us); it holds no secret: the API key
// stays in the activities' configuration.
type PaymentInput struct {
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

// PaymentCreated answers the create-session update: what the customer needs, as soon as
// Inbank has answered.
type PaymentCreated struct {
	ID             string           `json:"id"`
	POSSessionUUID string           `json:"posSessionUuid"`
	RedirectURL    string           `json:"redirectUrl"`
	Status         pos.InbankStatus `json:"status"`
}

// InbankCallback is the inbank-callback signal: a verified callback's claims, used only as a
// trigger to read the session again.
type InbankCallback struct {
	POSSessionUUID string           `json:"posSessionUuid,omitempty"`
	Status         pos.InbankStatus `json:"status"`
	Timestamp      int64            `json:"timestamp"`
}

// PaymentStatus is the status query's answer and the workflow's result.
type PaymentStatus struct {
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
	// RequestDigest: see PaymentInput.
	RequestDigest string `json:"requestDigest,omitempty"`
}

// Final reports whether the session has ended.
func (s PaymentStatus) Final() bool { return s.Status.IsFinal() }

// PaymentSession creates an Inbank POS session (through the create-session update, or at
// once with CreateOnStart) and follows it until it is completed, cancelled, declined or
// expired. Each inbank-callback signal triggers a GET; only GET's status counts, so forged,
// duplicated or reordered callbacks change nothing by themselves. At validUntil the session
// is read once more and, if still open, ends expired.
func PaymentSession(ctx workflow.Context, in PaymentInput) (PaymentStatus, error) {
	if in.ID == "" || !pos.IsUUID(in.ShopUUID) || len(in.Request) == 0 {
		return PaymentStatus{}, temporal.NewNonRetryableApplicationError("id, a shopUuid UUID and request are required", activities.ErrTypeInvalidInput, nil)
	}
	p := &payment{in: in, log: workflow.GetLogger(ctx),
		st: PaymentStatus{ID: in.ID, ShopUUID: in.ShopUUID, Status: StatusCreating, RequestDigest: in.RequestDigest}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PaymentStatus, error) { return p.st, nil }); err != nil {
		return p.st, err
	}
	if err := p.awaitCreated(ctx); err != nil {
		return p.st, err
	}
	p.follow(ctx)
	p.log.Info("payment session ended", "id", in.ID, "status", p.st.Status)
	return p.st, nil
}

// payment is the workflow's memory of one session.
type payment struct {
	in        PaymentInput
	log       log.Logger
	st        PaymentStatus
	creating  bool
	createErr error
}

// awaitCreated has the session created: by the create-session update, or at once with
// CreateOnStart.
func (p *payment) awaitCreated(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCreateSession, p.create, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context) error {
			if p.creating {
				return temporal.NewNonRetryableApplicationError("payment session "+p.in.ID+" is already created", ErrTypeAlreadyCreated, nil)
			}
			return nil
		},
	}); err != nil {
		return err
	}
	if p.in.CreateOnStart {
		_, err := p.create(ctx)
		return err
	}
	ok, err := workflow.AwaitWithTimeout(ctx, CreateWait, func() bool { return p.st.POSSessionUUID != "" || p.createErr != nil })
	if err != nil {
		return err
	}
	if !ok {
		return temporal.NewNonRetryableApplicationError("no create-session update within "+CreateWait.String(), ErrTypeNotCreated, nil)
	}
	if p.createErr != nil {
		return asApplicationError(p.createErr)
	}
	return nil
}

// create is the create-session update: Inbank creates the session.
func (p *payment) create(ctx workflow.Context) (PaymentCreated, error) {
	p.creating = true
	var c activities.InbankCreated
	err := workflow.ExecuteActivity(inbankCreateOptions(ctx), ActivityInbankCreateSession,
		activities.InbankCreateInput{ShopUUID: p.in.ShopUUID, Request: p.in.Request}).Get(ctx, &c)
	if err != nil {
		p.createErr = err
		return PaymentCreated{}, asApplicationError(err)
	}
	p.st.POSSessionUUID, p.st.RedirectURL, p.st.Status = c.POSSessionUUID, c.RedirectURL, c.Status
	return PaymentCreated{ID: p.in.ID, POSSessionUUID: c.POSSessionUUID, RedirectURL: c.RedirectURL, Status: c.Status}, nil
}

// follow reads the session once (the create answer has no validUntil), then after every
// callback, every RecheckInterval and at validUntil, until it is final.
func (p *payment) follow(ctx workflow.Context) {
	signals := workflow.GetSignalChannel(ctx, SignalInbankCallback)
	p.check(ctx)
	if p.st.ValidUntil.IsZero() {
		p.st.ValidUntil = workflow.Now(ctx).UTC().Add(DefaultLifetime)
	}
	for !p.st.Final() {
		tctx, cancelTimer := workflow.WithCancel(ctx)
		wait := max(p.st.ValidUntil.Sub(workflow.Now(ctx)), 0)
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
			var cb InbankCallback
			c.Receive(ctx, &cb)
			p.st.Callbacks++
			// Every pending callback is covered by the one GET below.
			for c.ReceiveAsync(&cb) {
				p.st.Callbacks++
			}
		})
		sel.AddFuture(timer, func(workflow.Future) { expired = !recheck })
		sel.Select(ctx)
		cancelTimer()
		p.check(ctx)
		if expired && !p.st.Final() {
			p.st.Status = pos.StatusExpired
		}
	}
	// Callbacks still queued are triggers for a session already final: nothing to do.
	var late InbankCallback
	for signals.ReceiveAsync(&late) {
		p.st.Callbacks++
	}
}

// check reads the session at Inbank and keeps what it says.
func (p *payment) check(ctx workflow.Context) {
	var s pos.InbankSession
	err := workflow.ExecuteActivity(inbankGetOptions(ctx), ActivityInbankGetSession,
		activities.InbankGetInput{ShopUUID: p.in.ShopUUID, POSSessionUUID: p.st.POSSessionUUID}).Get(ctx, &s)
	if err != nil {
		// Not fatal: the next callback or the expiry timer reads it again.
		p.st.LastError = err.Error()
		p.log.Warn("payment session: cannot read the Inbank session", "id", p.in.ID, "error", err)
		return
	}
	p.st.Checks++
	p.st.LastError = ""
	if s.Status.Known() {
		p.st.Status = s.Status
	}
	if !s.ValidUntil.IsZero() {
		p.st.ValidUntil = s.ValidUntil.UTC()
	}
	p.st.CreditApplicationUUID, p.st.CreditContractUUID = s.CreditApplicationUUID, s.CreditContractUUID
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
