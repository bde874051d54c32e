// Package schemas holds the embedded JSON Schemas epcflow validates against, compiled once.
package schemas

// Names of the embedded schemas, as passed to Validate.
const (
	// ServiceEvents is seed 003's CREATE_SERVICE_EVENTS details schema, exactly as published.
	ServiceEvents = "service-events-create-1.0.0.json"
	// ResponsePatch is the body of PATCH /partner/v2/transactions/{id}/response; when
	// result.action is CREATE_SERVICE_EVENTS its result.details must match ServiceEvents.
	ResponsePatch = "response-patch.json"
	// Webhook is the EPC webhook notification body.
	Webhook = "webhook.json"
	// PartnerEvent is the body of POST /partner/v2/transactions/{id}/events.
	PartnerEvent = "partner-event.json"
	// InbankPOSSession is the body of Inbank's POST /partner/v3/shops/{shopUuid}/pos-sessions
	// (seed 001); package pos adds the rules a schema cannot say (pos.ValidateSessionRequest).
	InbankPOSSession = "inbank-pos-session.json"
)

// Problem is one validation failure: where (a JSON pointer into the document) and why.
type Problem struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// String renders "pointer: message"; the root pointer is "".
func (p Problem) String() string { return p.Pointer + ": " + p.Message }
