// Package epcemu emulates Encompass Partner Connect (EPC) for the sandbox: the OAuth token
// endpoint, the Partner API v2 at its real paths, media uploads, the lender (through a control
// API under /sandbox/epc/) and the webhooks the platform sends.
//
// Partner API (bearer token from POST /oauth2/v1/token):
//
//	GET   /partner/v2/transactions/{id}                      transaction (seed 002 shape)
//	GET   /partner/v2/transactions/{id}/request              request, credentials included
//	GET   /partner/v2/transactions/{id}/request/resources    lender attachments [{id,name,mimeType,url}]
//	PATCH /partner/v2/transactions/{id}/response             204; 400/403/409 as documented
//	POST  /partner/v2/transactions/{id}/response/resources   201 upload slots
//	GET   /partner/v2/transactions/{id}/events               events, in order
//	POST  /partner/v2/transactions/{id}/events               201 stored event
//	GET   /partner/v2/transactions/{id}/events/{eventId}
//	PUT   /sandbox/media/{id}                                upload bytes (slot authorization)
//	GET   /sandbox/media/{id}                                download (token, or slot authorization)
//
// Lender control API (JSON, no authentication):
//
//	POST  /sandbox/epc/transactions                          order: {request, product?, clientId?}
//	GET   /sandbox/epc/transactions                          summaries
//	GET   /sandbox/epc/transactions/{id}                     everything recorded
//	PATCH /sandbox/epc/transactions/{id}/request             JSON merge patch of the request
//	POST  /sandbox/epc/transactions/{id}/cancel              {"comments"?}
//	GET   /sandbox/epc/transactions/{id}/resources/{rid}/content
//	GET|PUT /sandbox/epc/service-event-mappings
//	GET   /sandbox/epc/products
//	GET|PUT /sandbox/epc/products/{name}/entitlements
//
// Choices where the platform is not documented ([ours], kept here in one place):
//   - POST …/events answers 201 with the stored event, `from` set to the product's name.
//   - Events the partner creates are not echoed back as webhooks; every other new event
//     (system or lender) yields an urn:elli:epc:transaction:event `created` webhook.
//   - A lender cancellation is an urn:elli:epc:transaction:request:canceled event plus an
//     `updated` transaction webhook. It does not close the transaction: the partner closes it
//     by answering status `canceled` (or completed/failed). Until then the lender can neither
//     cancel again nor update the request.
//   - CREATE_SERVICE_EVENTS outcomes list unmapped codes in a `skipped` group.
//   - A transaction's entitlement key "*" applies to every request type.
package epcemu

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/vocab"
)

// Defaults of the EPC emulator.
const (
	// DefaultProduct is the product `epcflow dev` uses: entitled to CREATE_SERVICE_EVENTS for
	// every request type.
	DefaultProduct = "sandbox-product"
	// DefaultLenderClientID is the lender's client id (the transaction's clientId, seed 002).
	DefaultLenderClientID = "3010000024"
	// defaultPartnerID is the partner id of products the sandbox creates.
	defaultPartnerID = "99999999"
)

// Config is what the EPC emulator takes of the sandbox's config (sandbox.Config documents
// each field); every field is required.
type Config struct {
	PartnerURL string // webhooks go to {PartnerURL}/webhooks/epc
	// PartnerURLs, when set, are the partner's replicas webhooks are spread over instead
	// (core.Delivery.URLs) [ours].
	PartnerURLs            []string
	ClientID, ClientSecret string // the only credentials the token endpoint accepts
	SigningKey             string // signs the webhooks of products without a key of their own
	TokenLifetime          time.Duration
	// Vocabulary names the lender's events the emulator creates and the webhook signature
	// header (the zero value: vocab.Default()).
	Vocabulary vocab.Vocabulary
	// OAuthAcceptBasic widens the token endpoint: HTTP Basic client authentication is
	// accepted besides the form fields.
	OAuthAcceptBasic bool
}

// EPC is the emulator. Its state lives in memory; Snapshot and Restore carry it over a
// restart.
type EPC struct {
	rt  *core.Runtime
	cfg Config
	st  *store
	tok *tokens
}

// Partner API routes. Their patterns double as the route names of fault rules.
const (
	RouteToken            = "POST /oauth2/v1/token"
	RouteGetTransaction   = "GET /partner/v2/transactions/{id}"
	RouteGetRequest       = "GET /partner/v2/transactions/{id}/request"
	RouteRequestResources = "GET /partner/v2/transactions/{id}/request/resources"
	RoutePatchResponse    = "PATCH /partner/v2/transactions/{id}/response"
	RouteCreateResources  = "POST /partner/v2/transactions/{id}/response/resources"
	RouteListEvents       = "GET /partner/v2/transactions/{id}/events"
	RouteCreateEvent      = "POST /partner/v2/transactions/{id}/events"
	RouteGetEvent         = "GET /partner/v2/transactions/{id}/events/{eventId}"
	RoutePutMedia         = "PUT /sandbox/media/{id}"
	RouteGetMedia         = "GET /sandbox/media/{id}"
)

// mediaPath is where stored files are served; {PublicURL}{mediaPath}{id}.
const mediaPath = "/sandbox/media/"

// New builds the EPC emulator, with DefaultProduct entitled to CREATE_SERVICE_EVENTS for
// every request type, and registers its routes on rt.
func New(rt *core.Runtime, cfg Config) *EPC {
	e := &EPC{rt: rt, cfg: cfg, st: newStore(), tok: newTokens(cfg, rt.Now)}
	p, _ := e.st.productOrNew(DefaultProduct, cfg.SigningKey)
	data := json.RawMessage(`{"transaction":{"*":{"response":{"results":[{"action":"` +
		epc.ActionCreateServiceEvents + `","formats":["` + epc.FormatServiceEvents + `"]}]}}}}`)
	if err := p.setEntitlements(data); err != nil {
		panic("sandbox: default entitlements: " + err.Error()) // a bug in the literal above
	}
	e.mount()
	return e
}

func (e *EPC) mount() {
	rt := e.rt
	rt.Handle(RouteToken, core.RouteExplicit, http.HandlerFunc(e.tok.serveToken), nil)
	for route, h := range map[string]core.HandlerFunc{
		RouteGetTransaction:   e.getTransaction,
		RouteGetRequest:       e.getRequest,
		RouteRequestResources: e.listRequestResources,
		RoutePatchResponse:    e.patchResponse,
		RouteCreateResources:  e.createResources,
		RouteListEvents:       e.listEvents,
		RouteCreateEvent:      e.createEvent,
		RouteGetEvent:         e.getEvent,
	} {
		rt.Handle(route, core.RoutePlatform, e.tok.requireToken(h), e.recordTxCall)
	}
	// Media routes check their own authorization (an upload grant or a bearer token).
	rt.Handle(RoutePutMedia, core.RoutePlatform, core.HandlerFunc(e.putMedia), e.recordMediaCall)
	rt.Handle(RouteGetMedia, core.RoutePlatform, core.HandlerFunc(e.getMedia), e.recordMediaCall)
	e.mountLender()
}

// recordTxCall logs a Partner API call in its transaction's partnerCalls.
func (e *EPC) recordTxCall(r *http.Request, c *core.Call) {
	if t := e.st.tx(r.PathValue("id")); t != nil {
		t.record(c)
	}
}

// recordMediaCall logs an upload or download in the transaction that owns the file.
func (e *EPC) recordMediaCall(r *http.Request, c *core.Call) {
	if m := e.st.mediaByID(r.PathValue("id")); m != nil {
		m.tx.record(c)
	}
}

func (t *txState) record(c *core.Call) {
	t.mu.Lock()
	t.calls.Add(*c)
	t.mu.Unlock()
}

// lookup finds the transaction named in the path.
func (e *EPC) lookup(r *http.Request) (*txState, error) {
	id := r.PathValue("id")
	if t := e.st.tx(id); t != nil {
		return t, nil
	}
	return nil, core.NotFound("transaction %s not found", core.QuoteShort(id))
}

// lookupJSON finds the transaction named in the path and reads the request's JSON body.
func (e *EPC) lookupJSON(r *http.Request, allowEmpty bool) (*txState, []byte, error) {
	t, err := e.lookup(r)
	if err != nil {
		return nil, nil, err
	}
	body, err := core.ReadJSON(r, allowEmpty)
	return t, body, err
}

// lookupObject finds the transaction named in the path and reads the request's body, a JSON
// object (nil for an empty body when allowEmpty; what starts the message of a 400).
func (e *EPC) lookupObject(r *http.Request, allowEmpty bool, what string) (*txState, map[string]json.RawMessage, error) {
	t, err := e.lookup(r)
	if err != nil {
		return nil, nil, err
	}
	obj, err := core.ReadObject(r, allowEmpty, what)
	return t, obj, err
}

// now is the sandbox clock in UTC at millisecond precision (what the JSON shows).
func (e *EPC) now() time.Time { return e.rt.Now().UTC().Truncate(time.Millisecond) }
