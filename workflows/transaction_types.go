package workflows

import (
	"time"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

// The transaction flow's inputs, signals, operator actions, status and result.

// TransactionInput starts a transaction workflow. It carries no secret: the workflow reads
// the transaction through activities.
type TransactionInput struct {
	TransactionID string `json:"transactionId"`
	// InstanceID is the first webhook's meta.instanceId, when it has one: the EPC instance the
	// webhook comes from (ICE's Developer Connect docs: "the unique identifier of the
	// Encompass environment"; in the Partner Connect examples, the product's name). It is
	// not the lender's client id: that one is the transaction's clientId (Status.ClientID).
	InstanceID string `json:"instanceId,omitempty"`
	// InputDeadline bounds how long the workflow waits for the lender after inputRequired;
	// zero means DefaultInputDeadline.
	InputDeadline time.Duration `json:"inputDeadline,omitempty"`
	// Restored carries the order's state when a run continues as new at a waiting point.
	Restored *Carried `json:"restored,omitempty"`
}

// Carried is what a transaction's run hands to the next when it continues as new.
type Carried struct {
	Status Status               `json:"status"`
	Order  activities.OrderData `json:"order"`
	// At is the waiting point the next run resumes at: atInput, atSchedule or atReport.
	At string `json:"at"`
	// InputAsked and InputDeadline: the lender was asked for input, and has until then.
	InputAsked    bool      `json:"inputAsked,omitempty"`
	InputDeadline time.Time `json:"inputDeadline,omitzero"`
	// Seen are the webhook dedup keys, oldest first; KnownEvents the transaction events read
	// already; RequestDigests the digests of the request seen in reads.
	Seen []string `json:"seen,omitempty"`
	// PartnerStatusKey is the vocabulary key of Status.PartnerStatus (absent from runs before
	// the vocabulary: the key is then found by the default value).
	PartnerStatusKey vocab.Key `json:"partnerStatusKey,omitempty"`
	KnownEvents      []string  `json:"knownEvents,omitempty"`
	RequestDigests   []string  `json:"requestDigests,omitempty"`
}

// DefaultInputDeadline is how long a lender has to answer inputRequired.
const DefaultInputDeadline = 72 * time.Hour

// WebhookSignal is a verified EPC webhook, as the API hands it to the workflow.
type WebhookSignal struct {
	EventID       string    `json:"eventId,omitempty"`
	EventTime     time.Time `json:"eventTime"`
	EventType     string    `json:"eventType"`
	ResourceType  string    `json:"resourceType"`
	ResourceID    string    `json:"resourceId"`
	TransactionID string    `json:"transactionId"`
	// BodySHA256 is the hex SHA-256 of the raw body: the webhook's identity when it has no
	// eventId. Empty in signals sent before it was added.
	BodySHA256 string `json:"bodySha256,omitempty"`
	// RefEventID is the transaction event meta.resourceRef names, if it names one.
	RefEventID string `json:"refEventId,omitempty"`
}

// DedupKey identifies a webhook delivery: its eventId, or for platforms that omit it the
// digest of its body (eventTime is given to the second: two updates of one second differ in
// nothing else). Signals recorded before the digest keep the fields that name the
// notification, so their histories replay alike.
func (w WebhookSignal) DedupKey() string {
	switch {
	case w.EventID != "":
		return w.EventID
	case w.BodySHA256 != "":
		return "sha256:" + w.BodySHA256
	}
	return w.EventType + "|" + w.ResourceType + "|" + w.ResourceID + "|" + w.EventTime.UTC().Format(time.RFC3339Nano)
}

// Stages of a transaction, as shown by the status query and the EpcStage search attribute.
const (
	StageReceived       = "received"
	StageAcknowledged   = "acknowledged"
	StageGathering      = "gathering-data"
	StageInputRequired  = "input-required"
	StageAwaitSchedule  = "awaiting-schedule"
	StageAwaitReport    = "awaiting-report"
	StageWorking        = "working"
	StageServiceEvents  = "service-events"
	StageUploading      = "uploading"
	StageCompleting     = "completing"
	StageCompleted      = "completed"
	StageFailed         = "failed"
	StageCanceled       = "canceled"
	StageClosedByOthers = "closed-elsewhere"
)

// Status is what the status query returns.
type Status struct {
	TransactionID string `json:"transactionId"`
	// ClientID is the lender's client id, the transaction's clientId as read from EPC (the
	// EpcClientId search attribute); InstanceID the EPC instance the first webhook named
	// (TransactionInput.InstanceID).
	ClientID        string                         `json:"clientId,omitempty"`
	InstanceID      string                         `json:"instanceId,omitempty"`
	Product         string                         `json:"product,omitempty"`
	RequestType     string                         `json:"requestType,omitempty"`
	LoanNumber      string                         `json:"loanNumber,omitempty"`
	Stage           string                         `json:"stage"`
	WaitingFor      string                         `json:"waitingFor,omitempty"`
	PartnerStatus   string                         `json:"partnerStatus,omitempty"`
	ResponseStatus  string                         `json:"responseStatus,omitempty"`
	ReferenceNumber string                         `json:"referenceNumber,omitempty"`
	Events          []EventRecord                  `json:"events,omitempty"`
	Resources       []epc.Resource                 `json:"resources,omitempty"`
	ServiceEvents   *activities.ServiceOutcome     `json:"serviceEvents,omitempty"`
	MissingInput    []epc.ErrorItem                `json:"missingInput,omitempty"`
	Errors          []epc.ErrorItem                `json:"errors,omitempty"`
	LastError       string                         `json:"lastError,omitempty"`
	Inspection      *ScheduleInput                 `json:"inspection,omitempty"`
	Report          *DeliverInput                  `json:"report,omitempty"`
	Flood           *activities.FloodDetermination `json:"flood,omitempty"`
	WebhooksSeen    int                            `json:"webhooksSeen"`
	// UnhandledWebhooks counts the webhooks of a type epcflow does not act on; Unhandled
	// keeps the latest (maxUnhandled).
	UnhandledWebhooks int                `json:"unhandledWebhooks,omitempty"`
	Unhandled         []UnhandledWebhook `json:"unhandled,omitempty"`
	// Rechecks counts the reads of the transaction made because the order waited a whole
	// recheck interval; Runs the runs of the workflow (more than one after continue-as-new).
	Rechecks int  `json:"rechecks,omitempty"`
	Runs     int  `json:"runs,omitempty"`
	Closed   bool `json:"closed"`
	// DueAt is when what the order waits for falls due (see SADueAt); zero when nothing is.
	DueAt time.Time `json:"dueAt,omitzero"`
}

// UnhandledWebhook is a webhook of a type epcflow does not act on, as recorded on its order.
type UnhandledWebhook struct {
	EventID      string    `json:"eventId,omitempty"`
	EventType    string    `json:"eventType"`
	ResourceType string    `json:"resourceType"`
	ResourceID   string    `json:"resourceId"`
	EventTime    time.Time `json:"eventTime"`
	// Event is the transaction event the webhook names, as read from EPC, when it names one.
	Event *EventRecord `json:"event,omitempty"`
}

// EventRecord is a transaction event this workflow created or reacted to.
type EventRecord struct {
	ID       string    `json:"id,omitempty"`
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	Comments string    `json:"comments,omitempty"`
	At       time.Time `json:"at,omitzero"`
	// Actor is the operator who had the event posted, when one did.
	Actor string `json:"actor,omitempty"`
}

// ScheduleInput is the operator's "inspection scheduled" action on an Appraisal order.
type ScheduleInput struct {
	InspectionAt time.Time `json:"inspectionAt"`
	Appraiser    string    `json:"appraiser,omitempty"`
	Comments     string    `json:"comments,omitempty"`
	// Actor names the person who acted (the console's signed-in operator, or what the API's
	// caller said); empty when nobody was named.
	Actor string `json:"actor,omitempty"`
}

// DeliverInput is the operator's delivery of an Appraisal report.
type DeliverInput struct {
	// Report is the PDF, already stored in the blob store by the API.
	Report blobs.File `json:"report"`
	// AppraisedValue is the appraised value in whole dollars.
	AppraisedValue int64     `json:"appraisedValue"`
	AppraisalType  string    `json:"appraisalType,omitempty"`
	CompletedAt    time.Time `json:"completedAt,omitzero"`
	Comments       string    `json:"comments,omitempty"`
	// Actor: see ScheduleInput.
	Actor string `json:"actor,omitempty"`
}

// ProgressInput is an operator's progress note, posted to the lender as a transaction event.
type ProgressInput struct {
	Text     string `json:"text"`
	Comments string `json:"comments,omitempty"`
	// Actor: see ScheduleInput.
	Actor string `json:"actor,omitempty"`
}

// MaxActorLen bounds an action's actor, in characters.
const MaxActorLen = 200

// ActionResult answers an operator update.
type ActionResult struct {
	Stage   string `json:"stage"`
	Message string `json:"message"`
}

// TransactionResult is the workflow's result.
type TransactionResult struct {
	TransactionID  string          `json:"transactionId"`
	ResponseStatus string          `json:"responseStatus"`
	PartnerStatus  string          `json:"partnerStatus,omitempty"`
	Resources      []epc.Resource  `json:"resources,omitempty"`
	Errors         []epc.ErrorItem `json:"errors,omitempty"`
}
