// Package vocab declares every name epcflow uses toward the platforms (error codes, event
// types, service-event codes, partner statuses, webhook types, signature headers, the POS
// Framework's signing scheme), each with its standing: [doc] in ICE's documentation, [sample]
// seen in ICE's public samples only, [ours] a convention of this project. A deployment changes
// the [ours] and [sample] names by configuration (Load) to what ICE confirms at onboarding; the
// [doc] ones are fixed.
//
// Workflows get a Vocabulary as configuration of the registered workflow (workflows.Engine),
// never from a file: a name is data in the commands' inputs, so changing one changes no
// command.
package vocab

import (
	"fmt"
	"slices"
	"strings"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/pos"
)

// Standing says how sure a name is.
type Standing string

// Standings.
const (
	Doc    Standing = "doc"    // stated in ICE's documentation: fixed
	Sample Standing = "sample" // seen in ICE's public samples, not guaranteed: configurable
	Ours   Standing = "ours"   // this project's choice: configurable
)

// Key names one entry of the vocabulary, as the configuration file spells it.
type Key string

// Error codes epcflow sends in a response's errors[].
const (
	ErrorInvalidCredentials     Key = "error.invalidCredentials"
	ErrorMissingInput           Key = "error.missingInput"
	ErrorUnsupportedRequestType Key = "error.unsupportedRequestType"
	ErrorInputTimeout           Key = "error.inputTimeout"
	ErrorProcessingFailed       Key = "error.processingFailed"
	ErrorType                   Key = "error.type"
)

// Transaction event types: the partner's own (posted) and the platform's (read).
const (
	EventAppraisalScheduled Key = "event.appraisalScheduled"
	EventProgress           Key = "event.progress"
	EventAppraisalReleased  Key = "event.appraisalReleased"
	EventRequestCanceled    Key = "event.requestCanceled"
	EventRequestUpdated     Key = "event.requestUpdated"
	EventRequestCreated     Key = "event.requestCreated"
	EventResponseUpdated    Key = "event.responseUpdated"
	EventResponseProcessed  Key = "event.responseProcessed"
)

// Service-event codes (CREATE_SERVICE_EVENTS), mapped by the lender to tasks and notifications.
const (
	ServiceEventFloodDetermined    Key = "serviceEvent.floodDetermined"
	ServiceEventAppraisalDelivered Key = "serviceEvent.appraisalDelivered"
)

// Partner statuses: the response's partnerStatus, free text the lender reads.
const (
	StatusOrderReceived        Key = "partnerStatus.orderReceived"
	StatusWaitingForInput      Key = "partnerStatus.waitingForInput"
	StatusInputReceived        Key = "partnerStatus.inputReceived"
	StatusSchedulingInspection Key = "partnerStatus.schedulingInspection"
	StatusInspectionScheduled  Key = "partnerStatus.inspectionScheduled"
	StatusAppraisalDelivered   Key = "partnerStatus.appraisalDelivered"
	StatusFloodDelivered       Key = "partnerStatus.floodDelivered"
	StatusFailed               Key = "partnerStatus.failed"
	StatusCanceled             Key = "partnerStatus.canceled"
)

// EPC webhooks: resource and event types, headers.
const (
	WebhookResourceTransaction      Key = "webhook.resourceTransaction"
	WebhookResourceTransactionEvent Key = "webhook.resourceTransactionEvent"
	WebhookEventCreated             Key = "webhook.eventCreated"
	WebhookEventUpdated             Key = "webhook.eventUpdated"
	WebhookSignatureHeader          Key = "webhook.signatureHeader"
	WebhookSignatureHeaderAlt       Key = "webhook.signatureHeaderAlt"
)

// The POS Framework's request signing (Create Package Event, Create a Session): not public.
const (
	POSEnvironmentHeader    Key = "pos.environmentHeader"
	POSSubscriptionIDHeader Key = "pos.subscriptionIdHeader"
	POSSigningKeyIDHeader   Key = "pos.signingKeyIdHeader"
	POSSignatureHeader      Key = "pos.signatureHeader"
	POSSignedContent        Key = "pos.signedContent"
	POSSignatureEncoding    Key = "pos.signatureEncoding"
)

// Entry is one name: its key, value, standing and where epcflow uses it.
type Entry struct {
	Key      Key      `json:"key"`
	Value    string   `json:"value"`
	Standing Standing `json:"standing"`
	// Group holds names that must differ from each other (two error codes alike could not be
	// told apart).
	Group string `json:"group"`
	// Used says where epcflow uses the name; Source where its standing comes from.
	Used   string `json:"used"`
	Source string `json:"source,omitempty"`
	// Allowed, when set, lists the only values the entry takes.
	Allowed []string `json:"allowed,omitempty"`
	// Default is the value epcflow ships (set by Entries).
	Default string `json:"default"`
}

// Configurable reports whether a deployment may change the entry.
func (e Entry) Configurable() bool { return e.Standing != Doc }

// Group names.
const (
	groupError   = "error code"
	groupEvent   = "event type"
	groupService = "service-event code"
	groupStatus  = "partner status"
	groupWebhook = "webhook"
	groupHeader  = "webhook header"
	groupPOS     = "POS header"
	groupPOSSig  = "POS signing"
)

// defaults is the vocabulary epcflow ships, in the order the table shows it. Sources:
// seed 002 (the transaction resource), seed 003 (CREATE_SERVICE_EVENTS), ICE's partner error
// guide (PARTNER-1001), the Partner Connect webhook and transaction-response-event pages.
func defaults() []Entry {
	return []Entry{
		{ErrorInvalidCredentials, epc.ErrorInvalidCredentials, Doc, groupError, "order failed: the lender user's credentials are refused", "ICE partner error guide", nil, ""},
		{ErrorMissingInput, "PARTNER-2001", Ours, groupError, "inputRequired: one entry per missing field", "", nil, ""},
		{ErrorUnsupportedRequestType, "PARTNER-2002", Ours, groupError, "order failed: a request type no product fulfils", "", nil, ""},
		{ErrorInputTimeout, "PARTNER-2003", Ours, groupError, "order failed: the lender's input did not come in time", "", nil, ""},
		{ErrorProcessingFailed, "PARTNER-5000", Ours, groupError, "order failed: any other permanent failure", "", nil, ""},
		{ErrorType, epc.ErrorTypePartner, Doc, "error type", "errors[].type of every error", "ICE partner error guide", nil, ""},

		{EventAppraisalScheduled, "urn:elli:epc:partner:appraisal:scheduled", Doc, groupEvent, "posted when the operator schedules an appraisal's inspection", "seed 002", nil, ""},
		{EventProgress, "urn:elli:epc:partner:progress", Ours, groupEvent, "posted for an operator's progress note", "", nil, ""},
		{EventAppraisalReleased, "urn:elli:epc:partner:appraisal:released", Ours, groupEvent, "posted when a canceled order releases its scheduled inspection", "", nil, ""},
		{EventRequestCanceled, "urn:elli:epc:transaction:request:canceled", Ours, groupEvent, "read: the lender's cancellation (ICE documents no call for it); the sandbox creates it", "", nil, ""},
		{EventRequestUpdated, "urn:elli:epc:transaction:request:updated", Ours, groupEvent, "the sandbox creates it when the lender updates the request (epcflow reads the request, not this event)", "", nil, ""},
		{EventRequestCreated, epc.EventRequestCreated, Doc, groupEvent, "the sandbox creates it with an order", "seed 002", nil, ""},
		{EventResponseUpdated, epc.EventResponseUpdated, Doc, groupEvent, "the sandbox creates it for each response update", "seed 002", nil, ""},
		{EventResponseProcessed, epc.EventResponseProcessed, Doc, groupEvent, "read: the outcome of CREATE_SERVICE_EVENTS", "seed 003", nil, ""},

		{ServiceEventFloodDetermined, "FLOOD-DETERMINED", Ours, groupService, "FloodCertification: the flood zone is determined", "", nil, ""},
		{ServiceEventAppraisalDelivered, "APPRAISAL-DELIVERED", Ours, groupService, "Appraisal: the report is delivered", "", nil, ""},

		{StatusOrderReceived, "Order Received", Ours, groupStatus, "acknowledgement (processing)", "", nil, ""},
		{StatusWaitingForInput, "Waiting for Lender Input", Ours, groupStatus, "inputRequired", "", nil, ""},
		{StatusInputReceived, "Lender Input Received", Ours, groupStatus, "processing again after the lender's input", "", nil, ""},
		{StatusSchedulingInspection, "Scheduling Inspection", Ours, groupStatus, "Appraisal: waiting for the operator to schedule", "", nil, ""},
		{StatusInspectionScheduled, "Inspection Scheduled", Ours, groupStatus, "Appraisal: the inspection is scheduled", "", nil, ""},
		{StatusAppraisalDelivered, "Appraisal Report Delivered", Ours, groupStatus, "Appraisal: completed (seed 002 shows this value as an example)", "", nil, ""},
		{StatusFloodDelivered, "Flood Certificate Delivered", Ours, groupStatus, "FloodCertification: completed", "", nil, ""},
		{StatusFailed, "Failed", Ours, groupStatus, "failed", "", nil, ""},
		{StatusCanceled, "Canceled by Lender", Ours, groupStatus, "canceled", "", nil, ""},

		{WebhookResourceTransaction, epc.ResourceTransaction, Doc, groupWebhook, "webhook meta.resourceType of a transaction (acted on: created, updated)", "Partner Connect: Working with Webhooks", nil, ""},
		{WebhookResourceTransactionEvent, epc.ResourceTransactionEvent, Doc, groupWebhook, "webhook meta.resourceType of a transaction event (acted on: created)", "Partner Connect: Working with Webhooks", nil, ""},
		{WebhookEventCreated, epc.WebhookCreated, Doc, "webhook event", "webhook eventType", "Partner Connect: Working with Webhooks", nil, ""},
		{WebhookEventUpdated, epc.WebhookUpdated, Doc, "webhook event", "webhook eventType", "Partner Connect: Working with Webhooks", nil, ""},
		{WebhookSignatureHeader, epc.SignatureHeader, Doc, groupHeader, "the webhook's signature, base64 HMAC-SHA256 of the raw body (api verifies, sandbox signs)", "Developer Connect: Notification Signature", nil, ""},
		{WebhookSignatureHeaderAlt, epc.AltSignatureHeader, Sample, groupHeader, "a second header the api takes the signature from", "ICE's .NET reference integration", nil, ""},

		{POSEnvironmentHeader, pos.HeaderEnvironment, Doc, groupPOS, "POS Framework requests, both directions: the environment (prod)", "seed 000", nil, ""},
		{POSSubscriptionIDHeader, pos.HeaderSubscriptionID, Sample, groupPOS, "POS Framework requests: the partner's integration id", "", nil, ""},
		{POSSigningKeyIDHeader, pos.HeaderSigningKeyID, Sample, groupPOS, "POS Framework requests: the signing key's id", "", nil, ""},
		{POSSignatureHeader, pos.HeaderSignature, Sample, groupPOS, "POS Framework requests: the signature", "", nil, ""},
		{POSSignedContent, string(pos.SignBody), Ours, groupPOSSig, "what the POS signature covers: body (the raw body) or ids-and-body (environment, subscription id and key id, each on a line, then the body)", "", pos.SignedContents(), ""},
		{POSSignatureEncoding, string(pos.EncodeBase64), Ours, groupPOSSig, "how the POS signature's HMAC-SHA256 is written: base64 or hex", "", pos.SignatureEncodings(), ""},
	}
}

// Vocabulary is a set of names: the defaults, with the configured ones in their place. The
// zero value is the defaults. It is immutable.
type Vocabulary struct {
	set map[Key]string // configured values only
}

// Default returns the vocabulary epcflow ships.
func Default() Vocabulary { return Vocabulary{} }

// Get returns the value of k. An unknown key is a bug of the caller: it panics.
func (v Vocabulary) Get(k Key) string {
	if s, ok := v.set[k]; ok {
		return s
	}
	for _, e := range defaults() {
		if e.Key == k {
			return e.Value
		}
	}
	panic(fmt.Sprintf("vocab: unknown key %q", k))
}

// Entries returns the effective table, in display order, with each entry's default.
func (v Vocabulary) Entries() []Entry {
	out := defaults()
	for i := range out {
		out[i].Default = out[i].Value
		if s, ok := v.set[out[i].Key]; ok {
			out[i].Value = s
		}
	}
	return out
}

// Changed lists the entries whose value differs from the default.
func (v Vocabulary) Changed() []Entry {
	var out []Entry
	for _, e := range v.Entries() {
		if e.Value != e.Default {
			out = append(out, e)
		}
	}
	return out
}

// KeyOf returns the key whose current value is value within the group of k (the entry that
// k's group holds that value), and whether there is one.
func (v Vocabulary) KeyOf(k Key, value string) (Key, bool) {
	group := ""
	for _, e := range defaults() {
		if e.Key == k {
			group = e.Group
		}
	}
	for _, e := range v.Entries() {
		if e.Group == group && e.Value == value {
			return e.Key, true
		}
	}
	return "", false
}

// New builds a vocabulary from configured values. Every problem is reported at once: an
// unknown key (with the keys that exist), an empty value, a [doc] name (fixed), a value not
// among those an entry allows, two names of one group alike.
func New(values map[Key]string) (Vocabulary, error) {
	known := map[Key]Entry{}
	for _, e := range defaults() {
		known[e.Key] = e
	}
	var problems []string
	keys := make([]Key, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	set := map[Key]string{}
	for _, k := range keys {
		val := values[k]
		e, ok := known[k]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%q: unknown name (epcflow vocabulary lists them)", k))
		case strings.TrimSpace(val) == "":
			problems = append(problems, fmt.Sprintf("%q: empty value", k))
		case val != strings.TrimSpace(val):
			problems = append(problems, fmt.Sprintf("%q: value %q has leading or trailing spaces", k, val))
		case !e.Configurable() && val != e.Value:
			problems = append(problems, fmt.Sprintf("%q: %q is fixed by ICE's documentation and cannot be changed", k, e.Value))
		case e.Allowed != nil && !slices.Contains(e.Allowed, val):
			problems = append(problems, fmt.Sprintf("%q: %q is not one of %s", k, val, strings.Join(e.Allowed, ", ")))
		default:
			set[k] = val
		}
	}
	v := Vocabulary{set: set}
	byGroup := map[string]map[string]Key{}
	for _, e := range v.Entries() {
		if byGroup[e.Group] == nil {
			byGroup[e.Group] = map[string]Key{}
		}
		if other, dup := byGroup[e.Group][strings.ToLower(e.Value)]; dup {
			problems = append(problems, fmt.Sprintf("%q and %q: both %q; each %s must differ from the others", other, e.Key, e.Value, e.Group))
			continue
		}
		byGroup[e.Group][strings.ToLower(e.Value)] = e.Key
	}
	if len(problems) > 0 {
		return Vocabulary{}, fmt.Errorf("vocabulary: %s", strings.Join(problems, "; "))
	}
	return v, nil
}

// POSScheme is the POS Framework signing scheme the vocabulary names.
func (v Vocabulary) POSScheme() pos.Scheme {
	return pos.Scheme{
		EnvironmentHeader: v.Get(POSEnvironmentHeader), SubscriptionIDHeader: v.Get(POSSubscriptionIDHeader),
		SigningKeyIDHeader: v.Get(POSSigningKeyIDHeader), SignatureHeader: v.Get(POSSignatureHeader),
		Content: pos.SignedContent(v.Get(POSSignedContent)), Encoding: pos.SignatureEncoding(v.Get(POSSignatureEncoding)),
	}
}
