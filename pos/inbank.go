package pos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/epcflow/epcflow/schemas"
)

// Inbank e-POS, Partner API v3 (seed 001; ../shared/spec/pos-sessions.md).
//
//	POST /partner/v3/shops/{shopUuid}/pos-sessions         create: 201 {uuid, status, redirectUrl}
//	GET  /partner/v3/shops/{shopUuid}/pos-sessions/{uuid}  read: the session and its status
//
// Both take "Authorization: Bearer <API key>". Errors are {"message": …}: 401 "unauthorized",
// 403 "User is not authorized to access this resource with an explicit deny", 404 "not_found",
// 500 "internal_server_error".

// InbankStatus is a POS session's status. Only StatusCompleted means paid (approved and
// signed); the other final statuses mean the customer will not pay through this session.
//
//	pending ──► granted ──► completed
//	   │           │
//	   └───────────┴──► cancelled (customer) | declined (Inbank) | expired (validUntil passed)
//
// granted is optional: a session may go from pending to completed directly.
type InbankStatus string

// The statuses of a POS session.
const (
	StatusPending   InbankStatus = "pending"
	StatusGranted   InbankStatus = "granted"
	StatusCompleted InbankStatus = "completed"
	StatusCancelled InbankStatus = "cancelled"
	StatusDeclined  InbankStatus = "declined"
	StatusExpired   InbankStatus = "expired"
)

// InbankStatuses lists every status, in life-cycle order.
func InbankStatuses() []InbankStatus {
	return []InbankStatus{StatusPending, StatusGranted, StatusCompleted, StatusCancelled, StatusDeclined, StatusExpired}
}

// Known reports whether s is one of the statuses above.
func (s InbankStatus) Known() bool {
	switch s {
	case StatusPending, StatusGranted, StatusCompleted, StatusCancelled, StatusDeclined, StatusExpired:
		return true
	}
	return false
}

// IsFinal reports whether s can never change again: completed, cancelled, declined, expired.
func (s InbankStatus) IsFinal() bool {
	switch s {
	case StatusCompleted, StatusCancelled, StatusDeclined, StatusExpired:
		return true
	}
	return false
}

// Asset types (rentalApplicationData.assets[].type); CATEGORY_BASED is the default.
const (
	AssetModelBased    = "MODEL_BASED"
	AssetCategoryBased = "CATEGORY_BASED"
)

// Asset category codes (rentalApplicationData.assets[].categoryCode). CategoryCopyingFee is
// accepted only for Latvia (a locale whose country is LV).
const (
	CategoryAddOn       = "add_on"
	CategoryCopyingFee  = "copying_fee"
	CategoryShippingFee = "shipping_fee"
)

// InbankSessionRequest is the body of a create-session call (seed 001). Optional members are
// left out when zero; validate with ValidateSessionRequest (CreateSession always does).
type InbankSessionRequest struct {
	ProductCode string `json:"productCode,omitempty"`
	Currency    string `json:"currency,omitempty"` // "EUR"
	Locale      string `json:"locale,omitempty"`   // language-country, e.g. "et-EE"
	// ValidUntil is when the session expires; zero leaves it to Inbank.
	ValidUntil          time.Time          `json:"validUntil,omitzero"`
	UserIP              string             `json:"userIp,omitempty"`
	CustomerData        *InbankCustomer    `json:"customerData,omitempty"`
	CustomerContactData *InbankContact     `json:"customerContactData,omitempty"`
	Purchase            InbankPurchase     `json:"purchase"`
	RentalApplication   InbankRental       `json:"rentalApplicationData"`
	PartnerURLs         *InbankPartnerURLs `json:"partnerUrls,omitempty"`
	IntegrationInfo     json.RawMessage    `json:"integrationInfo,omitempty"` // a string or an object
	AdditionalData      json.RawMessage    `json:"additionalData,omitempty"`  // a string or an object
}

// InbankCustomer pre-fills the application (customerData); all but Gender are required when
// it is sent.
type InbankCustomer struct {
	IdentityCode string `json:"identityCode,omitempty"`
	FirstName    string `json:"firstName,omitempty"`
	LastName     string `json:"lastName,omitempty"`
	Gender       string `json:"gender,omitempty"` // "m" or "f"
}

// InbankContact pre-fills the customer's contacts (customerContactData); both are required
// when it is sent.
type InbankContact struct {
	Email  string `json:"email,omitempty"`
	Mobile string `json:"mobile,omitempty"`
}

// InbankPurchase describes the order; Description is required.
type InbankPurchase struct {
	PurchaseReference string           `json:"purchaseReference,omitempty"`
	Description       string           `json:"description,omitempty"`
	AdditionalDetails json.RawMessage  `json:"additionalDetails,omitempty"` // an object
	Merchant          []InbankMerchant `json:"merchant,omitempty"`
}

// InbankMerchant is one merchant supplying the purchase; both fields are required.
type InbankMerchant struct {
	MerchantOrderReference string `json:"merchantOrderReference,omitempty"`
	MerchantDomainName     string `json:"merchantDomainName,omitempty"`
}

// InbankRental is rentalApplicationData: the assets (hero device first) and the period.
type InbankRental struct {
	// InsuranceUsed defaults to true at Inbank when nil.
	InsuranceUsed         *bool         `json:"insuranceUsed,omitempty"`
	GrossCampaignDiscount *float64      `json:"grossCampaignDiscount,omitempty"`
	GrossTradeInAmount    *float64      `json:"grossTradeInAmount,omitempty"`
	Assets                []InbankAsset `json:"assets,omitempty"`
	Period                int           `json:"period"` // months
}

// InbankAsset is one rented item. The first is the hero device: MODEL_BASED with a ModelID.
type InbankAsset struct {
	Type         string  `json:"type,omitempty"` // AssetModelBased or AssetCategoryBased (default)
	ModelID      string  `json:"modelId,omitempty"`
	ModelName    string  `json:"modelName,omitempty"`
	CategoryCode string  `json:"categoryCode,omitempty"` // required for CATEGORY_BASED
	NetPrice     float64 `json:"netPrice"`               // without VAT
}

// InbankPartnerURLs are where Inbank sends the customer back, and the server-to-server
// callback URL. ReturnURL and CancelURL are required when it is sent.
type InbankPartnerURLs struct {
	ReturnURL   string `json:"returnUrl,omitempty"`
	CancelURL   string `json:"cancelUrl,omitempty"`
	CallbackURL string `json:"callbackUrl,omitempty"`
}

// InbankSessionCreated is the 201 reply of a create-session call.
type InbankSessionCreated struct {
	UUID        string       `json:"uuid"`
	Status      InbankStatus `json:"status"`
	RedirectURL string       `json:"redirectUrl"`
}

// InbankSession is a POS session as GET shows it. The credit UUIDs appear once Inbank has an
// application (granted, declined) or a contract (granted, completed).
type InbankSession struct {
	UUID                  string       `json:"uuid"`
	Status                InbankStatus `json:"status"`
	CreditApplicationUUID string       `json:"creditApplicationUuid,omitempty"`
	CreditContractUUID    string       `json:"creditContractUuid,omitempty"`
	ValidUntil            time.Time    `json:"validUntil,omitzero"`
	RedirectURL           string       `json:"redirectUrl,omitempty"`
}

// Sentinels matched by errors.Is on an *InbankError, by HTTP status. They are worded
// generically so that every client of this package can share them.
var (
	ErrBadRequest   = errors.New("pos: request rejected (400)")
	ErrUnauthorized = errors.New("pos: unauthorized (401)")
	ErrForbidden    = errors.New("pos: forbidden (403)")
	ErrNotFound     = errors.New("pos: not found (404)")
	ErrInternal     = errors.New("pos: server error (5xx)")
)

// InbankError is a non-2xx reply of the Inbank API. Message is the reply's "message", as
// documented: "unauthorized", "not_found", "internal_server_error", "User is not
// authorized…". Problems lists a 400's details when the server gave them.
type InbankError struct {
	Op       string // "create session", "get session"
	Status   int
	Message  string
	Problems []schemas.Problem
}

func (e *InbankError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("pos: inbank %s: %d %s", e.Op, e.Status, msg)
	for i, p := range e.Problems {
		if i == 0 {
			s += ": "
		} else {
			s += "; "
		}
		s += p.String()
	}
	return s
}

// Is matches the sentinel of e's status.
func (e *InbankError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrInternal:
		return e.Status >= 500
	}
	return false
}

// Temporary reports whether trying again later may succeed (5xx, 429).
func (e *InbankError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// ErrInvalidArgument is wrapped by errors about the client's own arguments (shop or session
// UUID, configuration), found before any call.
var ErrInvalidArgument = errors.New("pos: invalid argument")

// InbankClient calls Inbank's Partner API v3. APIKey is a secret: it is sent only in the
// Authorization header and never appears in logs or errors (String and LogValue hide it).
type InbankClient struct {
	// BaseURL is the API root, without /partner/v3, e.g. the sandbox's URL.
	BaseURL string
	APIKey  string
	// HTTP sends the calls; nil means a client with a 30 s timeout.
	HTTP *http.Client
	// Logger gets one debug line per call (method, path, status, duration); nil discards.
	Logger *slog.Logger
	// ReadBackoff is the first wait before a failed GetSession is tried again (default
	// 100ms, doubling): a read that fails with a network error, a 5xx or a 429 is tried
	// inbankReadTries times in all. The create is never repeated here (see CreateSession).
	ReadBackoff time.Duration
}

const inbankReadTries = 4

// String hides the API key.
func (c InbankClient) String() string {
	return fmt.Sprintf("pos.InbankClient{BaseURL: %q, APIKey: %s}", c.BaseURL, inbankRedacted(c.APIKey))
}

// GoString hides the API key from %#v.
func (c InbankClient) GoString() string { return c.String() }

// LogValue hides the API key from slog.
func (c InbankClient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("baseURL", c.BaseURL), slog.String("apiKey", inbankRedacted(c.APIKey)))
}

func inbankRedacted(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "(inbankRedacted)"
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a UUID in its 36-character text form.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// maxInbankReply bounds a reply body read into memory.
const maxInbankReply = 1 << 20

// CreateSession creates a POS session for the shop. The body is validated first
// (ValidateSessionRequest): an invalid one is never sent, and the error is a
// *schemas.ValidationError listing every problem with its JSON pointer. A reply other than
// 201 is an *InbankError (errors.Is: ErrUnauthorized, ErrForbidden, ErrNotFound, ErrInternal…).
// The call is not idempotent: each success is a new session.
func (c *InbankClient) CreateSession(ctx context.Context, shopUUID string, req InbankSessionRequest) (InbankSessionCreated, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return InbankSessionCreated{}, fmt.Errorf("pos: inbank create session: encode body: %w", err)
	}
	return c.CreateSessionJSON(ctx, shopUUID, body)
}

// CreateSessionJSON is CreateSession for a body already encoded, sent as is once valid.
func (c *InbankClient) CreateSessionJSON(ctx context.Context, shopUUID string, body []byte) (InbankSessionCreated, error) {
	const op = "create session"
	var out InbankSessionCreated
	if err := c.check(op, shopUUID); err != nil {
		return out, err
	}
	if err := ValidateSessionRequest(body); err != nil {
		return out, err
	}
	path := "/partner/v3/shops/" + url.PathEscape(shopUUID) + "/pos-sessions"
	status, reply, err := c.do(ctx, op, http.MethodPost, path, body)
	if err != nil {
		return out, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return out, inbankReplyError(op, status, reply)
	}
	if err := json.Unmarshal(reply, &out); err != nil {
		return out, fmt.Errorf("pos: inbank %s: decode %d reply: %w", op, status, err)
	}
	switch {
	case !IsUUID(out.UUID):
		return out, fmt.Errorf("pos: inbank %s: reply has no session uuid", op)
	case out.RedirectURL == "":
		return out, fmt.Errorf("pos: inbank %s: reply has no redirectUrl", op)
	}
	return out, nil
}

// GetSession reads a POS session: the source of truth a callback only hints at.
func (c *InbankClient) GetSession(ctx context.Context, shopUUID, sessionUUID string) (InbankSession, error) {
	const op = "get session"
	var out InbankSession
	if err := c.check(op, shopUUID); err != nil {
		return out, err
	}
	if !IsUUID(sessionUUID) {
		return out, fmt.Errorf("pos: inbank %s: %w: session uuid must be a UUID", op, ErrInvalidArgument)
	}
	path := "/partner/v3/shops/" + url.PathEscape(shopUUID) + "/pos-sessions/" + url.PathEscape(sessionUUID)
	wait := c.ReadBackoff
	if wait <= 0 {
		wait = 100 * time.Millisecond
	}
	var (
		status int
		reply  []byte
		err    error
	)
	for try := 1; ; try++ {
		status, reply, err = c.do(ctx, op, http.MethodGet, path, nil)
		passing := err != nil || status >= 500 || status == http.StatusTooManyRequests
		if !passing || try == inbankReadTries || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Second)
	}
	if err != nil {
		return out, err
	}
	if status != http.StatusOK {
		return out, inbankReplyError(op, status, reply)
	}
	if err := json.Unmarshal(reply, &out); err != nil {
		return out, fmt.Errorf("pos: inbank %s: decode reply: %w", op, err)
	}
	if !strings.EqualFold(out.UUID, sessionUUID) {
		return out, fmt.Errorf("pos: inbank %s: reply is about another session", op)
	}
	if out.Status == "" {
		return out, fmt.Errorf("pos: inbank %s: reply has no status", op)
	}
	return out, nil
}

// check validates the client's configuration and the shop UUID; errors never echo the key.
func (c *InbankClient) check(op, shopUUID string) error {
	var missing []string
	u, err := url.Parse(c.BaseURL)
	if c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		missing = append(missing, "BaseURL must be an absolute http(s) URL")
	}
	if c.APIKey == "" {
		missing = append(missing, "APIKey required")
	}
	if !IsUUID(shopUUID) {
		missing = append(missing, "shop uuid must be a UUID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("pos: inbank %s: %w: %s", op, ErrInvalidArgument, strings.Join(missing, "; "))
	}
	return nil
}

// do sends one call and returns the status and (bounded) body.
func (c *InbankClient) do(ctx context.Context, op, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("pos: inbank %s: build request: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second} // shares http.DefaultTransport's pool
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		c.logf(ctx, method, path, 0, start, err)
		return 0, nil, fmt.Errorf("pos: inbank %s: %w", op, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxInbankReply))
	c.logf(ctx, method, path, resp.StatusCode, start, err)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("pos: inbank %s: read %d reply: %w", op, resp.StatusCode, err)
	}
	return resp.StatusCode, reply, nil
}

func (c *InbankClient) logf(ctx context.Context, method, path string, status int, start time.Time, err error) {
	if c.Logger == nil || !c.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("method", method), slog.String("path", path),
		slog.Int("status", status), slog.Duration("duration", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.Logger.LogAttrs(ctx, slog.LevelDebug, "inbank call", attrs...)
}

// inbankReplyError decodes an error reply {"message", "details"?}; a body that is not that shape
// leaves Message empty (the status text stands in).
func inbankReplyError(op string, status int, reply []byte) *InbankError {
	e := &InbankError{Op: op, Status: status}
	var body struct {
		Message string            `json:"message"`
		Details []schemas.Problem `json:"details"`
	}
	if json.Unmarshal(reply, &body) == nil {
		e.Message = inbankTruncate(body.Message, 200)
		e.Problems = body.Details
	}
	return e
}

func inbankTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
