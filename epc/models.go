// Package epc speaks the Encompass Partner Connect (EPC) Partner API v2: typed models, an
// OAuth2 client, typed errors and webhook signature verification.
//
// Loan data (PLM JSON) and request options are open-ended, so they are kept as raw JSON: a
// transaction decoded and encoded again loses nothing.
package epc

import (
	"encoding/json"
	"time"
)

// Resource types named in webhook notifications.
const (
	ResourceTransaction      = "urn:elli:epc:transaction"
	ResourceTransactionEvent = "urn:elli:epc:transaction:event"
)

// Webhook event types.
const (
	WebhookCreated = "created"
	WebhookUpdated = "updated"
)

// Transaction event types.
const (
	// The lender's request:updated and request:canceled events are [ours]: vocab declares them.
	EventRequestCreated    = "urn:elli:epc:transaction:request:created"
	EventResponseUpdated   = "urn:elli:epc:transaction:response:updated"
	EventResponseProcessed = "urn:elli:epc:transaction:response:processed"
)

// Transaction statuses.
const (
	TransactionPending   = "pending"
	TransactionCompleted = "completed"
)

// Response statuses.
const (
	StatusProcessing    = "processing"
	StatusCompleted     = "completed"
	StatusFailed        = "failed"
	StatusCanceled      = "canceled"
	StatusInputRequired = "inputRequired"
)

// IsClosingStatus reports whether a response status closes the transaction.
func IsClosingStatus(s string) bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCanceled
}

// Result actions and their formats.
const (
	ActionCreateServiceEvents = "CREATE_SERVICE_EVENTS"
	FormatServiceEvents       = "application/vnd.service-events-create-1.0.0.json"
	LoanFormatPLM             = "application/vnd.plm-2.0.0+json"
)

// Error codes we send in errors[].
const (
	ErrorInvalidCredentials = "PARTNER-1001" // [doc]
	ErrorTypePartner        = "partner"
)

// Webhook is the notification body the platform posts to the partner.
type Webhook struct {
	EventID   string      `json:"eventId,omitempty"`
	EventTime time.Time   `json:"eventTime"`
	EventType string      `json:"eventType"`
	Meta      WebhookMeta `json:"meta"`
}

// WebhookMeta names the resource a webhook is about.
type WebhookMeta struct {
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	InstanceID   string `json:"instanceId"`
	ResourceRef  string `json:"resourceRef"`
	UserID       string `json:"userId,omitempty"`
}

// Transaction is the EPC transaction resource (seed 002).
type Transaction struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	ClientID    string     `json:"clientId,omitempty"`
	Environment string     `json:"environment,omitempty"`
	Application string     `json:"application,omitempty"`
	OrderType   string     `json:"orderType,omitempty"`
	Created     *time.Time `json:"created,omitempty"`
	CreatedBy   string     `json:"createdBy,omitempty"`
	EntityRef   *EntityRef `json:"entityRef,omitempty"`
	Product     *Product   `json:"product,omitempty"`
	Request     *Request   `json:"request,omitempty"`
	Response    *Response  `json:"response,omitempty"`
	Events      []Event    `json:"events,omitempty"`
}

// EntityRef points at the Encompass entity (usually a loan) the transaction is for.
type EntityRef struct {
	EntityID   string `json:"entityId"`
	EntityType string `json:"entityType"`
}

// Product identifies the partner product the lender ordered.
type Product struct {
	ID        string `json:"id,omitempty"`
	PartnerID string `json:"partnerId,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Request is what the lender asks for.
type Request struct {
	Type            string          `json:"type"`
	LoanFormat      string          `json:"loanFormat,omitempty"`
	Loan            json.RawMessage `json:"loan,omitempty"`
	Credentials     *Credentials    `json:"credentials,omitempty"`
	RequestingParty *Party          `json:"requestingParty,omitempty"`
	Options         json.RawMessage `json:"options,omitempty"`
	Resources       []Resource      `json:"resources,omitempty"`
}

// Credentials are the lender user's login at the partner. Secret: String and the JSON of
// a redacted copy never show the password.
type Credentials struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// String hides the password so a stray %v never prints it.
func (c Credentials) String() string {
	return "Credentials{username:" + c.Username + ", password:[redacted]}"
}

// GoString hides the password from %#v as well.
func (c Credentials) GoString() string { return c.String() }

// Party is a requesting or responding party.
type Party struct {
	Name           string   `json:"name,omitempty"`
	Address        string   `json:"address,omitempty"`
	City           string   `json:"city,omitempty"`
	State          string   `json:"state,omitempty"`
	PostalCode     string   `json:"postalCode,omitempty"`
	PointOfContact *Contact `json:"pointOfContact,omitempty"`
}

// Contact is a party's point of contact.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Role  string `json:"role,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	Fax   string `json:"fax,omitempty"`
}

// Response is the partner's response as the platform stores and returns it. It is also
// the body of PATCH …/response: every field is optional there, so all are omitempty.
type Response struct {
	Status          string          `json:"status,omitempty"`
	PartnerStatus   string          `json:"partnerStatus,omitempty"`
	ReferenceNumber string          `json:"referenceNumber,omitempty"`
	RespondingParty *Party          `json:"respondingParty,omitempty"`
	LoanFormat      string          `json:"loanFormat,omitempty"`
	Loan            json.RawMessage `json:"loan,omitempty"`
	Resources       []Resource      `json:"resources,omitempty"`
	Errors          []ErrorItem     `json:"errors,omitempty"`
	Result          *Result         `json:"result,omitempty"`
	Retry           *Retry          `json:"retry,omitempty"`
}

// ResponsePatch is the body of PATCH /partner/v2/transactions/{id}/response.
type ResponsePatch = Response

// ErrorItem is one entry of response errors[].
type ErrorItem struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	Type        string `json:"type"`
	FieldID     string `json:"fieldId,omitempty"`
	ResourceID  string `json:"resourceId,omitempty"`
}

// Result is a result action with its format and details.
type Result struct {
	Action  string          `json:"action"`
	Format  string          `json:"format"`
	Details json.RawMessage `json:"details,omitempty"`
}

// Retry tells the platform how long to retry ingestion while the loan is locked.
type Retry struct {
	Interval string `json:"interval,omitempty"`
	Duration int    `json:"duration,omitempty"`
}

// Resource is a file reference: a lender attachment, a response resource, or an upload slot
// (Location and Authorization are set only on slots and in event resources).
type Resource struct {
	ID            string `json:"id,omitempty"`
	Name          string `json:"name,omitempty"`
	MimeType      string `json:"mimeType,omitempty"`
	URL           string `json:"url,omitempty"`
	Location      string `json:"location,omitempty"`
	Authorization string `json:"authorization,omitempty"`
}

// Event is a transaction event.
type Event struct {
	ID        string          `json:"id,omitempty"`
	Text      string          `json:"text,omitempty"`
	Type      string          `json:"type"`
	From      string          `json:"from,omitempty"`
	Sent      *time.Time      `json:"sent,omitempty"`
	Comments  string          `json:"comments,omitempty"`
	Resources []Resource      `json:"resources,omitempty"`
	Details   json.RawMessage `json:"details,omitempty"`
}

// NewEvent is the body of POST …/events.
type NewEvent struct {
	Text      string     `json:"text"`
	Type      string     `json:"type"`
	Comments  string     `json:"comments,omitempty"`
	Resources []Resource `json:"resources,omitempty"`
}

// NewResource is one entry of the body of POST …/response/resources.
type NewResource struct {
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
}

// ServiceEvent is one item of CREATE_SERVICE_EVENTS details (seed 003).
type ServiceEvent struct {
	Code        string           `json:"code"`
	Title       string           `json:"title"`
	Description string           `json:"description,omitempty"`
	ReferenceID string           `json:"referenceId,omitempty"`
	Sender      string           `json:"sender,omitempty"`
	Provider    string           `json:"provider,omitempty"`
	Comments    []ServiceComment `json:"comments,omitempty"`
}

// ServiceComment is a comment on a service event.
type ServiceComment struct {
	Comment string `json:"comment"`
}

// ServiceEventsDetails is result.details for CREATE_SERVICE_EVENTS.
type ServiceEventsDetails struct {
	ServiceEvents []ServiceEvent `json:"serviceEvents"`
}

// ProcessedDetails is the details of a response:processed event (seed 003).
type ProcessedDetails struct {
	Action               string                 `json:"action"`
	Status               string                 `json:"status"`
	RequestType          string                 `json:"requestType,omitempty"`
	ServiceEvents        []ProcessedEventGroups `json:"serviceEvents,omitempty"`
	TransactionID        string                 `json:"transactionId"`
	RequestCorrelationID string                 `json:"requestCorrelationId,omitempty"`
}

// ProcessedEventGroups groups processed service events by outcome.
type ProcessedEventGroups struct {
	Success []ProcessedServiceEvent `json:"success,omitempty"`
	Failure []ProcessedServiceEvent `json:"failure,omitempty"`
	Skipped []ProcessedServiceEvent `json:"skipped,omitempty"`
}

// ProcessedServiceEvent is one service event as the platform processed it.
type ProcessedServiceEvent struct {
	Code           string         `json:"code"`
	Title          string         `json:"title,omitempty"`
	ReferenceID    string         `json:"referenceId,omitempty"`
	LenderEntities []LenderEntity `json:"lenderEntities,omitempty"`
}

// LenderEntity is an Encompass entity created for a service event.
type LenderEntity struct {
	ID   string `json:"id,omitempty"`
	Type string `json:"type"`
}

// Token is the OAuth2 token reply.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}
