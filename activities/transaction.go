// Package activities holds every side effect of epcflow's workflows, one file (and its
// prefix) per flow: the transaction flow's calls to EPC, the partner's account store, product
// back-ends and the blob store (transaction*.go); the payment flow's calls to Inbank
// (payment.go). Activities do what they are told and report what they found; the business
// flow is decided in package workflows. The worker registers them by the names declared in
// workflows/names.go.
//
// Each activity is idempotent: a PATCH sets the full intended state, and before creating an
// event or uploading a file an activity looks for the one an earlier attempt already made.
package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/accounts"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/traced"
	"github.com/epcflow/epcflow/vocab"
)

// EPC is the part of the EPC Partner API client the activities use (*epc.Client).
type EPC interface {
	GetTransaction(ctx context.Context, id string) (*epc.Transaction, error)
	ListRequestResources(ctx context.Context, id string) ([]epc.Resource, error)
	PatchResponse(ctx context.Context, id string, r *epc.Response) error
	ListEvents(ctx context.Context, id string) ([]epc.Event, error)
	GetEvent(ctx context.Context, id, eventID string) (*epc.Event, error)
	CreateEvent(ctx context.Context, id string, e epc.NewEvent) (*epc.Event, error)
	CreateResources(ctx context.Context, id string, rs []epc.NewResource) ([]epc.Resource, error)
	UploadBytes(ctx context.Context, slot epc.Resource, body io.Reader, size int64) error
}

// Validator checks documents against the embedded JSON Schemas (*schemas.Validator).
type Validator interface {
	Validate(name string, doc []byte) error
}

// Transaction carries the transaction flow's activities and their dependencies.
type Transaction struct {
	EPC      EPC
	Accounts accounts.Store
	Blobs    blobs.Store
	Schemas  Validator
	// Partner is the responding party sent with completed responses.
	Partner epc.Party
	Logger  *slog.Logger
	// PollInterval is the first wait between reads while awaiting the platform (default 250ms).
	PollInterval time.Duration
	// WriteBackoff is the first wait before a failed write is tried again within an attempt
	// (default 200ms, doubling up to 2s; a Retry-After up to 5s is honoured).
	WriteBackoff time.Duration
	// Vocabulary names the lender's cancellation event and the partner events posted here;
	// the zero value is vocab.Default().
	Vocabulary vocab.Vocabulary
}

// Error types carried by activity failures, for workflows to branch on.
const (
	ErrTypeRejected     = "EPCRequestRejected" // a 4xx other than 401/429: retrying cannot help
	ErrTypeUnavailable  = "EPCUnavailable"     // 429, 5xx, network: retried
	ErrTypeInvalidInput = "InvalidInput"
	ErrTypeClosed       = "TransactionClosed"
)

func (a *Transaction) logger(ctx context.Context, txID string) *slog.Logger {
	l := a.Logger
	if l == nil {
		l = slog.Default()
	}
	attrs := []any{"transactionId", txID}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		attrs = append(attrs, "activity", info.ActivityType.Name, "attempt", info.Attempt, "workflowId", info.WorkflowExecution.ID)
	}
	// The activity's span, when traced: its lines are logged without the context.
	return l.With(append(attrs, traced.LogArgs(ctx)...)...)
}

// epcError maps an EPC client error to a Temporal application error: rejected requests are
// non-retryable, everything else is retried, after the platform's Retry-After when it gave one.
// The message comes from the epc package, which never puts secrets in errors.
func epcError(op string, err error) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("%s: %v", op, err)
	// The attempt was stopped (its heartbeat failed while the server restarted, the worker is
	// shutting down, the deadline passed): no answer from the platform, so nothing final.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return temporal.NewApplicationError(msg, ErrTypeUnavailable)
	}
	if !epc.IsRetryable(err) {
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeRejected, nil, epc.StatusOf(err))
	}
	return temporal.NewApplicationErrorWithOptions(msg, ErrTypeUnavailable, temporal.ApplicationErrorOptions{
		NextRetryDelay: epc.RetryAfter(err),
		Details:        []any{epc.StatusOf(err)},
	})
}

func invalid(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeInvalidInput, nil)
}

// TxInfo summarises a transaction without any secret.
type TxInfo struct {
	TransactionID     string `json:"transactionId"`
	ClientID          string `json:"clientId,omitempty"`
	Product           string `json:"product,omitempty"`
	RequestType       string `json:"requestType,omitempty"`
	LoanNumber        string `json:"loanNumber,omitempty"`
	TransactionStatus string `json:"transactionStatus"`
	ResponseStatus    string `json:"responseStatus,omitempty"`
	// ResponseReference is the response's reference number: ours once we acknowledged.
	ResponseReference string `json:"responseReference,omitempty"`
	// CanceledEventID is set when the lender has already canceled the request.
	CanceledEventID string `json:"canceledEventId,omitempty"`
	// RequestDigest is the SHA-256 of the request without its credentials: it changes when
	// the lender updates the request.
	RequestDigest string `json:"requestDigest,omitempty"`
}

// Closed reports whether the transaction accepts no more response updates.
func (t TxInfo) Closed() bool { return t.TransactionStatus == epc.TransactionCompleted }

func (a *Transaction) txInfo(tx *epc.Transaction) TxInfo {
	info := TxInfo{TransactionID: tx.ID, ClientID: tx.ClientID, TransactionStatus: tx.Status}
	if tx.Product != nil {
		info.Product = tx.Product.Name
	}
	if tx.Request != nil {
		info.RequestType = tx.Request.Type
		info.LoanNumber = loanNumber(tx.Request.Loan)
		info.RequestDigest = requestDigest(*tx.Request)
	}
	if tx.Response != nil {
		info.ResponseStatus, info.ResponseReference = tx.Response.Status, tx.Response.ReferenceNumber
	}
	for _, e := range tx.Events {
		if e.Type == a.Vocabulary.Get(vocab.EventRequestCanceled) {
			info.CanceledEventID = e.ID
		}
	}
	return info
}

// requestDigest digests the request as read, less the credentials (a digest of a password
// could be guessed back).
func requestDigest(r epc.Request) string {
	r.Credentials = nil
	b, err := json.Marshal(r)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// PatchInput asks for a response PATCH: the full intended state of the fields it sets.
type PatchInput struct {
	TransactionID string       `json:"transactionId"`
	Patch         epc.Response `json:"patch"`
	// WithRespondingParty adds the configured partner as respondingParty.
	WithRespondingParty bool `json:"withRespondingParty,omitempty"`
	// UnlessCanceled leaves the response as it is when the lender has canceled the request
	// (the outcome is then not applied, with the cancellation in Info), unless it holds the
	// patch already.
	UnlessCanceled bool `json:"unlessCanceled,omitempty"`
	// Acknowledgement: the patch acknowledges the order (status processing under our
	// reference number), and a response that already says so holds it whatever its partner
	// status: a step after the acknowledgement may have changed that, and an acknowledgement
	// run again (a lost workflow task's local steps) must not turn it back.
	Acknowledgement bool `json:"acknowledgement,omitempty"`
}

// PatchOutcome tells whether the PATCH was applied, and the transaction as it then stood.
type PatchOutcome struct {
	Applied bool   `json:"applied"`
	Info    TxInfo `json:"info"`
}

// PatchResponse reads the transaction and, unless it is already closed, PATCHes the response.
// A closed transaction is not an error: the outcome says so and the workflow decides. A
// response that already holds the patch (an earlier attempt's PATCH whose reply was lost)
// counts as applied and is not written again.
func (a *Transaction) PatchResponse(ctx context.Context, in PatchInput) (PatchOutcome, error) {
	log := a.logger(ctx, in.TransactionID)
	if in.TransactionID == "" {
		return PatchOutcome{}, invalid("transaction id is empty")
	}
	tx, err := a.EPC.GetTransaction(ctx, in.TransactionID)
	if err != nil {
		return PatchOutcome{}, epcError("get transaction", err)
	}
	patch := in.Patch
	if in.WithRespondingParty && a.Partner.Name != "" {
		party := a.Partner
		patch.RespondingParty = &party
	}
	already := responseHolds(tx.Response, &patch) || (in.Acknowledgement && acknowledged(tx, patch))
	if info := a.txInfo(tx); in.UnlessCanceled && !already && info.CanceledEventID != "" {
		log.Info("response not patched: the lender canceled the request", "wanted", in.Patch.Status)
		return PatchOutcome{Info: info}, nil
	}
	if !already {
		tx, err = a.writeResponse(ctx, tx, &patch)
	}
	info := a.txInfo(tx)
	switch {
	case errors.Is(err, errClosed):
		log.Info("response not patched: transaction already closed", "responseStatus", info.ResponseStatus, "wanted", in.Patch.Status)
		return PatchOutcome{Info: info}, nil
	case err != nil:
		if epc.StatusOf(err) == 409 {
			// Closed between our read and our write: report the state, as above.
			if tx2, err2 := a.EPC.GetTransaction(ctx, in.TransactionID); err2 == nil && tx2.Status == epc.TransactionCompleted {
				return PatchOutcome{Info: a.txInfo(tx2)}, nil
			}
		}
		return PatchOutcome{}, epcError("patch response", err)
	}
	if patch.Status != "" {
		info.ResponseStatus = patch.Status
		if epc.IsClosingStatus(patch.Status) {
			info.TransactionStatus = epc.TransactionCompleted
		}
	}
	if already {
		log.Info("response already holds the patch", "status", patch.Status, "partnerStatus", patch.PartnerStatus)
	} else {
		log.Info("response patched", "status", patch.Status, "partnerStatus", patch.PartnerStatus)
	}
	return PatchOutcome{Applied: true, Info: info}, nil
}

// acknowledged: the open transaction's response is processing under the patch's reference
// number already.
func acknowledged(tx *epc.Transaction, patch epc.Response) bool {
	r := tx.Response
	return tx.Status != epc.TransactionCompleted && r != nil && patch.ReferenceNumber != "" &&
		r.Status == epc.StatusProcessing && r.ReferenceNumber == patch.ReferenceNumber
}

// Property is the subject property's address, read from the loan data.
type Property struct {
	StreetAddress string `json:"streetAddress,omitempty"`
	City          string `json:"city,omitempty"`
	State         string `json:"state,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	County        string `json:"county,omitempty"`
}

// OrderData is what products need to work an order. It carries no secret: the credentials
// are checked here and only the verdict leaves the activity.
type OrderData struct {
	TxInfo
	Property         Property       `json:"property"`
	Attachments      []epc.Resource `json:"attachments,omitempty"`
	CredentialsValid bool           `json:"credentialsValid"`
	// CredentialsProblem explains an invalid verdict without echoing the credentials.
	CredentialsProblem string `json:"credentialsProblem,omitempty"`
}

// GatherData reads the transaction and request, lists the lender's attachments and checks
// request.credentials against the partner's account store.
func (a *Transaction) GatherData(ctx context.Context, transactionID string) (OrderData, error) {
	log := a.logger(ctx, transactionID)
	tx, err := a.EPC.GetTransaction(ctx, transactionID)
	if err != nil {
		return OrderData{}, epcError("get transaction", err)
	}
	if tx.Request == nil {
		return OrderData{}, invalid("transaction %s has no request", transactionID)
	}
	out := OrderData{TxInfo: a.txInfo(tx), Property: property(tx.Request.Loan)}
	atts, err := a.EPC.ListRequestResources(ctx, transactionID)
	if err != nil {
		return OrderData{}, epcError("list request resources", err)
	}
	for _, r := range atts {
		out.Attachments = append(out.Attachments, epc.Resource{ID: r.ID, Name: r.Name, MimeType: r.MimeType})
	}
	switch c := tx.Request.Credentials; {
	case c == nil || c.Username == "" || c.Password == "":
		out.CredentialsProblem = "request.credentials are missing"
	default:
		err := a.Accounts.Verify(ctx, c.Username, c.Password)
		switch {
		case err == nil:
			out.CredentialsValid = true
		case errors.Is(err, accounts.ErrInvalidCredentials):
			out.CredentialsProblem = "the username and password do not match a partner account"
		default:
			// The store's own error text may echo what it was given: log and return only
			// that it failed, so no credential reaches logs or the workflow history.
			log.Warn("account store unavailable", "errorType", fmt.Sprintf("%T", err))
			return OrderData{}, errors.New("account store unavailable: retrying")
		}
	}
	log.Info("order data gathered", "requestType", out.RequestType, "attachments", len(out.Attachments), "credentialsValid", out.CredentialsValid)
	return out, nil
}

// EventInfo describes a transaction event.
type EventInfo struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Comments string `json:"comments,omitempty"`
}

// EventRef names an event of a transaction.
type EventRef struct {
	TransactionID string `json:"transactionId"`
	EventID       string `json:"eventId"`
}

// ReadEvent reads one transaction event, so the workflow can tell what an event webhook means.
func (a *Transaction) ReadEvent(ctx context.Context, ref EventRef) (EventInfo, error) {
	e, err := a.EPC.GetEvent(ctx, ref.TransactionID, ref.EventID)
	if err != nil {
		return EventInfo{}, epcError("get event", err)
	}
	return EventInfo{ID: e.ID, Type: e.Type, Text: e.Text, Comments: e.Comments}, nil
}

// PostEventInput is a partner event to create.
type PostEventInput struct {
	TransactionID string `json:"transactionId"`
	Type          string `json:"type"`
	Text          string `json:"text"`
	Comments      string `json:"comments,omitempty"`
}

// PostEvent creates a partner event unless an identical one (type, text and comments) exists,
// which is what an earlier attempt of this activity would have left. A failed create that may
// pass is tried again within the attempt, after looking again: its reply may have been lost
// after the platform stored the event.
func (a *Transaction) PostEvent(ctx context.Context, in PostEventInput) (EventInfo, error) {
	log := a.logger(ctx, in.TransactionID)
	for try := 1; ; try++ {
		events, err := a.EPC.ListEvents(ctx, in.TransactionID)
		if err != nil {
			return EventInfo{}, epcError("list events", err)
		}
		for _, e := range events {
			if e.Type == in.Type && e.Text == in.Text && e.Comments == in.Comments {
				log.Info("event already posted", "eventId", e.ID, "type", e.Type)
				return EventInfo{ID: e.ID, Type: e.Type, Text: e.Text, Comments: e.Comments}, nil
			}
		}
		e, err := a.EPC.CreateEvent(ctx, in.TransactionID, epc.NewEvent{Text: in.Text, Type: in.Type, Comments: in.Comments})
		if err == nil {
			log.Info("event posted", "eventId", e.ID, "type", e.Type)
			return EventInfo{ID: e.ID, Type: e.Type, Text: e.Text, Comments: e.Comments}, nil
		}
		if try == writeTries || !a.waitToRetry(ctx, err, try) {
			return EventInfo{}, epcError("create event", err)
		}
	}
}

// TxSnapshot is what a re-read of the transaction tells the workflow after a webhook.
type TxSnapshot struct {
	TxInfo
	EventIDs       []string `json:"eventIds,omitempty"`
	CancelComments string   `json:"cancelComments,omitempty"`
}

// InspectTransaction re-reads the transaction after a webhook: its status, its events, and
// whether the lender canceled.
func (a *Transaction) InspectTransaction(ctx context.Context, transactionID string) (TxSnapshot, error) {
	tx, err := a.EPC.GetTransaction(ctx, transactionID)
	if err != nil {
		return TxSnapshot{}, epcError("get transaction", err)
	}
	snap := TxSnapshot{TxInfo: a.txInfo(tx)}
	for _, e := range tx.Events {
		snap.EventIDs = append(snap.EventIDs, e.ID)
		if e.Type == a.Vocabulary.Get(vocab.EventRequestCanceled) {
			snap.CancelComments = e.Comments
		}
	}
	return snap, nil
}
